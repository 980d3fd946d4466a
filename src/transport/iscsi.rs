//! iSCSI: sendtargets discovery, login with CHAP, by-path lookup.
