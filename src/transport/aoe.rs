//! AoE: discovery (aoe-discover, aoe-stat, sysfs) and attach.
