/// The network transports (see README.md).
enum KaplanNetworkNamespace {}
