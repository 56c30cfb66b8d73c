/// Every key the plan format accepts, per mapping: the one list the decoder reads against and that
/// `kaplan dev plan-keys` prints for the schema agreement test.
package enum PlanKeys {
    package static let root = [
        "version", "name", "description", "golden", "table", "partitions", "exclude", "nodes", "transport",
        "bootloader", "fixups", "security", "policy",
    ]
    package static let golden = ["disk", "root", "image"]
    package static let partition = [
        "id", "type", "size", "filesystem", "mount", "logical", "bootable", "name", "label", "mkfs-options",
        "mount-options",
    ]
    package static let exclude = ["disks", "paths"]
    package static let nodes = ["count", "prefix", "disk", "disk-size", "list"]
    package static let node = ["name", "address", "mac", "disk", "image", "disk-size"]
    package static let transportCommon = ["kind", "port", "chunk-size", "compression", "join-timeout", "buffer", "stall-timeout"]
    package static let transportChain = ["order", "congestion-control"]
    package static let transportMulticast = [
        "group", "data-port", "interface", "max-rate", "ttl", "fec", "receiver-timeout",
    ]
    package static let fec = ["data", "parity"]
    package static let bootloader = ["kind", "removable", "kernel-options", "initrd"]
    package static let initrd = ["rebuild", "modules", "tool"]
    package static let fixups = ["fstab", "hostname", "machine-id", "ssh-host-keys", "network", "resume", "commands"]
    package static let security = ["key-file"]
    package static let policy = ["retries", "min-success", "step-timeout", "parallel"]

    /// Every accepted key path, sorted: `golden.disk`, `partitions[].id`, `transport.fec.data`, …
    package static var paths: [String] {
        var result: [String] = []
        func add(_ prefix: String, _ keys: [String]) { result += keys.map { prefix + $0 } }
        add("", root)
        add("golden.", golden)
        add("partitions[].", partition)
        add("exclude.", exclude)
        add("nodes.", nodes)
        add("nodes.list[].", node)
        add("transport.", transportCommon + transportChain + transportMulticast)
        add("transport.fec.", fec)
        add("bootloader.", bootloader)
        add("bootloader.initrd.", initrd)
        add("fixups.", fixups)
        add("security.", security)
        add("policy.", policy)
        return result.sorted()
    }
}
