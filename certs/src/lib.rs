//! corral-certs: issuing (rcgen) and loading the cluster CA, node and client
//! certificates, with hot reload (issue [transport]).
