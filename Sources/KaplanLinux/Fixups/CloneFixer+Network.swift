import Foundation
import KaplanEngine

extension CloneFixer {
    /// What `cleanNetwork` removes: a directory of the clone and which of its entries.
    static let networkLeftovers: [(directory: String, matches: @Sendable (String) -> Bool)] = [
        // The golden's MAC addresses pinned to eth0…: a clone would get eth1 and no network.
        ("/etc/udev/rules.d", { $0 == "70-persistent-net.rules" || $0 == "75-persistent-net-generator.rules" }),
        // dhclient (Debian); dhcpd's own lease database (dhcpd.leases) is a server's state and is kept.
        ("/var/lib/dhcp", { ($0.hasSuffix(".leases") || $0.hasSuffix(".lease")) && !$0.hasPrefix("dhcpd") }),
        // dhclient (Red Hat).
        ("/var/lib/dhclient", { _ in true }),
        // NetworkManager's internal client and dhclient.
        ("/var/lib/NetworkManager", { $0.hasSuffix(".lease") }),
        // dhcpcd.
        ("/var/lib/dhcpcd", { $0.hasSuffix(".lease") || $0.hasSuffix(".lease6") }),
        ("/var/lib/dhcpcd5", { $0.hasSuffix(".lease") || $0.hasSuffix(".lease6") }),
        ("/var/db/dhcpcd", { $0.hasSuffix(".lease") || $0.hasSuffix(".lease6") }),
        // systemd-networkd and wicked.
        ("/var/lib/systemd/network", { $0.contains("lease") }),
        ("/var/lib/wicked", { $0.hasPrefix("lease-") }),
    ]

    /// Removes the golden's persistent-net udev rules and DHCP client leases, so that a clone names its own
    /// interfaces and asks for its own address. A `75-persistent-net-generator.rules` that masks the generator
    /// (empty, or a symlink to /dev/null) is the administrator's choice and is kept. Directories are never removed.
    @discardableResult
    public func cleanNetwork() throws -> String {
        let tree = try tree()
        var removed: [String] = []
        for (directory, matches) in Self.networkLeftovers {
            for name in tree.list(directory) where matches(name) {
                let path = "\(directory)/\(name)"
                guard let status = tree.status(path) else { continue }
                let type = status.st_mode & S_IFMT
                guard type == S_IFREG || type == S_IFLNK else { continue }
                if name == "75-persistent-net-generator.rules" {
                    let host = try tree.resolve(path, followLast: false)
                    let mask =
                        (type == S_IFLNK && (try? FileManager.default.destinationOfSymbolicLink(atPath: host)) == "/dev/null")
                        || (type == S_IFREG && status.st_size == 0)
                    if mask { continue }
                }
                if try tree.remove(path) { removed.append(path) }
            }
        }
        return removed.isEmpty ? "network: nothing to remove" : "network: removed " + removed.joined(separator: ", ")
    }
}
