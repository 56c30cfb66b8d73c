import Foundation
import KaplanEngine
import KaplanGraph

/// Applies the fix-ups that make a file-level copy of the golden boot as its own node, on the clone's mounted
/// root directory (`/run/kaplan/SESSION/nodes/node03`). Each fix-up is one method that returns a one-line summary
/// of what it changed and throws a `HostError` saying what failed, in which file, and what to do.
///
/// Every path is resolved inside the clone (its absolute symlinks point into the clone, never at the host), and
/// every file is replaced atomically with its mode, owner and extended attributes kept. Each fix-up can run
/// again on its own result without changing it further.
public struct CloneFixer: Sendable {
    /// The clone's root directory on the host.
    public let root: String

    /// A fixer for the clone mounted at `root`.
    public init(root: String) {
        self.root = root
    }

    /// Applies one planned fix-up; `chroot` runs the programs the SSH and command fix-ups need.
    @discardableResult
    public func apply(_ fixup: Step.Fixup, facts: CloneFacts, chroot: ChrootRunner) throws -> String {
        switch fixup {
        case .fstab: try rewriteFstab(facts: facts)
        case .hostname(let name): try setHostname(name)
        case .machineID: try resetMachineID()
        case .sshHostKeys: try regenerateSSHHostKeys(chroot: chroot)
        case .network: try cleanNetwork()
        case .resume: try updateResume(facts: facts)
        case .command(_, let argv): try runCommand(argv: argv, chroot: chroot)
        }
    }

    /// Runs a plan command (argv, never a shell) in the clone's chroot with a 10-minute limit; a non-zero exit
    /// throws a `HostError` naming the command, its exit status and the last line it wrote to stderr.
    @discardableResult
    public func runCommand(argv: [String], chroot: ChrootRunner) throws -> String {
        try chroot.run(argv, timeout: 600)
        return "ran `\(ChrootRunner.shellWords(argv))` in the chroot"
    }

    /// The clone's tree, after checking that `root` is a directory and not the host's own `/`.
    func tree() throws -> CloneTree {
        guard root.hasPrefix("/"), let resolved = realpath(root, nil) else {
            throw HostError(
                "fixup-root", "the clone's root \(root) does not exist or is not an absolute path",
                cause: "is the clone's root filesystem mounted?")
        }
        let real = String(cString: resolved)
        free(resolved)
        guard real != "/" else {
            throw HostError("fixup-root", "refusing to apply fix-ups to \(root): it is the host's own root directory")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HostError("fixup-root", "the clone's root \(root) is not a directory")
        }
        return CloneTree(root: real)
    }
}
