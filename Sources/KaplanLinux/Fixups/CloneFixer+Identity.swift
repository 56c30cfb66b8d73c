import Foundation
import KaplanEngine

extension CloneFixer {
    /// Empties `/etc/machine-id` (kept, mode 0444) so systemd makes a new one at first boot; a file that already
    /// says `uninitialized` is kept (it means the same and also runs first-boot units). Removes
    /// `/var/lib/dbus/machine-id` when it is a copy; a symlink to `/etc/machine-id` is kept.
    @discardableResult
    public func resetMachineID() throws -> String {
        let tree = try tree()
        var summary: [String] = []
        let path = try tree.resolve("/etc/machine-id")
        let old = try tree.read("/etc/machine-id")
        if old != Array("uninitialized\n".utf8) {
            if let status = tree.status("/etc/machine-id"), (status.st_mode & S_IFMT) != S_IFREG,
                (status.st_mode & S_IFMT) != S_IFLNK
            {
                throw HostError(
                    "machine-id", "cannot empty \(tree.describe("/etc/machine-id")): it is not a regular file",
                    cause: "remove it in the golden, or switch the machine-id fix-up off")
            }
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o444)
            guard fd >= 0 else {
                throw HostError("machine-id", "cannot empty \(tree.describe("/etc/machine-id"))", cause: CloneTree.errnoText())
            }
            let chmodFailed = fchmod(fd, 0o444) != 0 ? CloneTree.errnoText() : nil
            close(fd)
            if let chmodFailed {
                throw HostError("machine-id", "cannot make \(tree.describe("/etc/machine-id")) mode 0444", cause: chmodFailed)
            }
            switch old {
            case nil: summary.append("created an empty /etc/machine-id")
            case .some(let bytes) where bytes.isEmpty: summary.append("/etc/machine-id already empty")
            default: summary.append("emptied /etc/machine-id")
            }
        } else {
            summary.append("/etc/machine-id already says uninitialized")
        }
        if let dbus = tree.status("/var/lib/dbus/machine-id") {
            if (dbus.st_mode & S_IFMT) == S_IFLNK {
                summary.append("kept the /var/lib/dbus/machine-id symlink")
            } else if (dbus.st_mode & S_IFMT) == S_IFREG {
                try tree.remove("/var/lib/dbus/machine-id")
                summary.append("removed /var/lib/dbus/machine-id")
            }
        }
        return "machine-id: " + summary.joined(separator: "; ")
    }

    /// Removes `/etc/ssh/ssh_host_*key*` and runs `ssh-keygen -A` in the chroot so that every clone has its own
    /// host keys. A clone without ssh (no host keys, no sshd, no ssh-keygen) is left alone. Host keys without
    /// `/usr/bin/ssh-keygen` to replace them is an error, and nothing is removed.
    @discardableResult
    public func regenerateSSHHostKeys(chroot: ChrootRunner) throws -> String {
        let tree = try tree()
        let keys = tree.list("/etc/ssh").filter { $0.hasPrefix("ssh_host_") && $0.contains("key") }
        let keygen = tree.exists("/usr/bin/ssh-keygen")
        let server = tree.exists("/usr/sbin/sshd") || tree.exists("/etc/ssh/sshd_config")
        if keys.isEmpty && !server {
            return "ssh: no ssh server in the clone; nothing to do"
        }
        guard keygen else {
            throw HostError(
                "ssh-no-keygen",
                "cannot regenerate the SSH host keys in the clone at \(tree.root): it has "
                    + (keys.isEmpty ? "an ssh server" : "\(keys.count) host key files from the golden") + " but no /usr/bin/ssh-keygen",
                cause: "install openssh-client in the golden, or switch the ssh-host-keys fix-up off (every clone would share the golden's keys)")
        }
        for key in keys { try tree.remove("/etc/ssh/\(key)") }
        try chroot.run(["/usr/bin/ssh-keygen", "-A"], timeout: 300)
        let made = tree.list("/etc/ssh").filter { $0.hasPrefix("ssh_host_") && $0.hasSuffix("_key.pub") }
            .map { $0.dropFirst("ssh_host_".count).dropLast("_key.pub".count) }
        guard !made.isEmpty else {
            throw HostError(
                "ssh-keygen", "ssh-keygen -A made no host keys in \(tree.describe("/etc/ssh"))",
                cause: "run `chroot \(tree.root) ssh-keygen -A` by hand to see why")
        }
        return "ssh: removed \(keys.count) host key files; generated \(made.joined(separator: ", "))"
    }
}
