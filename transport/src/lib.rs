//! corral-transport: mutual-TLS QUIC endpoints, length-delimited postcard
//! framing, and the wire messages of the client and peer protocols (issue
//! [transport]).
