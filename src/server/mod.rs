//! The server side generated from the plan: exports, DHCP, TFTP, iPXE.
