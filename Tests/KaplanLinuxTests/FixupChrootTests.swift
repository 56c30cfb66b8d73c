import Foundation
import KaplanEngine
import KaplanLinux
import Testing

/// ChrootRunner on a tiny real chroot (the host's /bin/sh and its libraries): mounts, by-uuid links, exit statuses,
/// and that nothing stays mounted, whatever happens. Serialized: the tests share the host's /dev/disk.
@Suite(.serialized, .enabled(if: getuid() == 0, "mounts and chroot need root"))
struct FixupChrootTests {
    /// A root where /bin/sh runs.
    static func tinyRoot() throws -> FixupRoot {
        let clone = try FixupRoot()
        try clone.install(programs: ["/usr/bin/sh"])
        try clone.symlink("/bin", to: "usr/bin")
        return clone
    }

    static func hostDevDiskExists() -> Bool { FileManager.default.fileExists(atPath: "/dev/disk") }

    @Test func commandSeesDevProcSysRunAndTheByUUIDLinks() throws {
        let clone = try Self.tinyRoot()
        let devDiskBefore = Self.hostDevDiskExists()
        let chroot = ChrootRunner(root: clone.path, devices: ["1234-ABCD": "/dev/null"])
        defer { chroot.teardown() }
        let result = try chroot.run([
            "/bin/sh", "-c",
            "[ -r /proc/self/mountinfo ] && [ -d /sys/kernel ] && [ -c /dev/null ] && [ -d /run ] "
                + "&& [ -c /dev/disk/by-uuid/1234-ABCD ] && echo \"ok $PATH $HOME $LC_ALL\"",
        ])
        #expect(result.stdout == "ok /usr/sbin:/usr/bin:/sbin:/bin /root C\n")
        #expect(chroot.mountpoints == ["/dev", "/proc", "/sys", "/run", "/dev/disk"].map { clone.path + $0 })
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: clone.host("/dev/disk/by-uuid/1234-ABCD")) == "/dev/null")
        // Nothing of the chroot's /dev/disk shows on the host: the links live on a private tmpfs.
        #expect(!FileManager.default.fileExists(atPath: "/dev/disk/by-uuid/1234-ABCD"))
        #expect(chroot.teardown() == [])
        #expect(FixupRoot.mounts(below: clone.path) == [])
        #expect(chroot.teardown() == [], "a second teardown must be harmless")
        #expect(Self.hostDevDiskExists() == devDiskBefore, "the host's /dev/disk was left changed")
        #expect(!clone.exists("/dev/disk"))
    }

    /// The brief's must: a failing command, and afterwards nothing mounted below the root.
    @Test func failingCommandThrowsAndLeavesNoMount() throws {
        let clone = try Self.tinyRoot()
        let chroot = ChrootRunner(root: clone.path, devices: ["1234-ABCD": "/dev/null"])
        let error = try #require(throws: HostError.self) {
            defer { chroot.teardown() }
            try CloneFixer(root: clone.path).runCommand(
                argv: ["/bin/sh", "-c", "echo probing >&2; echo 'grub-probe: error: failed to get canonical path of overlay' >&2; exit 3"],
                chroot: chroot)
        }
        #expect(error.code == "chroot-command-failed")
        let realRoot = try #require(realpath(clone.path, nil).map { p in defer { free(p) }; return String(cString: p) })
        #expect(
            error.description
                == "command `/bin/sh -c 'echo probing >&2; echo '\\''grub-probe: error: failed to get canonical path of overlay'\\'' >&2; exit 3'` "
                + "failed with exit status 3 in the chroot of \(realRoot); to see its whole output run: chroot \(realRoot) /bin/sh -c "
                + "'echo probing >&2; echo '\\''grub-probe: error: failed to get canonical path of overlay'\\'' >&2; exit 3': "
                + "grub-probe: error: failed to get canonical path of overlay")
        #expect(FixupRoot.mounts(below: clone.path) == [])
    }

    @Test func missingProgramSaysSo() throws {
        let clone = try Self.tinyRoot()
        let chroot = ChrootRunner(root: clone.path)
        defer { chroot.teardown() }
        let error = try #require(throws: HostError.self) { try chroot.run(["update-grub"]) }
        #expect(error.message.contains("failed with exit status 127"))
        #expect(error.message.contains("(`update-grub` was not found in the clone: is its package installed in the golden?)"))
        chroot.teardown()
        #expect(FixupRoot.mounts(below: clone.path) == [])
    }

    @Test func commandThatHangsIsKilled() throws {
        let clone = try Self.tinyRoot()
        let chroot = ChrootRunner(root: clone.path)
        defer { chroot.teardown() }
        let error = try #require(throws: HostError.self) { try chroot.run(["/bin/sh", "-c", "while :; do :; done"], timeout: 1) }
        #expect(error.code == "chroot-timeout")
        #expect(error.message.contains("did not finish within 1.0 s"))
        #expect(chroot.teardown() == [])
        #expect(FixupRoot.mounts(below: clone.path) == [])
    }

    /// A daemon left running in the chroot (its cwd in the chroot's /proc) keeps the mounts busy: teardown stops it,
    /// then unmounts. (Started here rather than through `run`: a daemon that keeps `Command.run`'s output pipes
    /// open makes `run` wait for it.)
    @Test func processLeftRunningIsStoppedAtTeardown() throws {
        let clone = try Self.tinyRoot()
        let chroot = ChrootRunner(root: clone.path)
        defer { chroot.teardown() }
        try chroot.prepare()
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/sbin/chroot")
        daemon.arguments = [clone.path, "/bin/sh", "-c", "cd /proc && while :; do :; done"]
        daemon.standardInput = FileHandle.nullDevice
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        // Wait until it is inside the chroot.
        var waited = 0
        while waited < 250,
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon.processIdentifier)/cwd")) != clone.path + "/proc"
        {
            usleep(20_000)
            waited += 1
        }
        let warnings = chroot.teardown()
        daemon.waitUntilExit()
        #expect(warnings == ["stopped process(es) \(daemon.processIdentifier) left running in the chroot of \(clone.path)"])
        #expect(FixupRoot.mounts(below: clone.path) == [])
    }

    /// A mount that cannot be made (the clone's /sys is a file) undoes the ones made before it.
    @Test func failedPrepareUndoesItsMounts() throws {
        let clone = try Self.tinyRoot()
        try clone.write("/sys", "not a directory\n")
        let chroot = ChrootRunner(root: clone.path)
        let error = try #require(throws: HostError.self) { try chroot.prepare() }
        #expect(error.code == "chroot-mount")
        #expect(chroot.mountpoints == [])
        #expect(FixupRoot.mounts(below: clone.path) == [])
    }

    /// A clone whose /run is an absolute symlink gets it resolved inside the clone, never on the host's /run.
    @Test func absoluteSymlinksStayInsideTheClone() throws {
        let clone = try Self.tinyRoot()
        try clone.mkdir("/var/run-elsewhere")
        try clone.symlink("/run", to: "/var/run-elsewhere")
        let chroot = ChrootRunner(root: clone.path)
        defer { chroot.teardown() }
        try chroot.prepare()
        #expect(chroot.mountpoints.contains(clone.path + "/var/run-elsewhere"))
        chroot.teardown()
        #expect(FixupRoot.mounts(below: clone.path) == [])
    }

    @Test func rootIsChecked() throws {
        let error = try #require(throws: HostError.self) { try ChrootRunner(root: "/").prepare() }
        #expect(error.code == "chroot-root")
        let clone = try Self.tinyRoot()
        let badDevice = try #require(throws: HostError.self) {
            try ChrootRunner(root: clone.path, devices: ["1234": "/dev/loop99p9"]).prepare()
        }
        #expect(badDevice.description.contains("device /dev/loop99p9 does not exist: is the partition's loop device still attached?"))
        #expect(FixupRoot.mounts(below: clone.path) == [])
    }

    /// The real program: the golden's keys are replaced by new ones made inside the clone.
    @Test func sshHostKeysAreRegenerated() throws {
        let clone = try Self.tinyRoot()
        try clone.install(programs: ["/usr/bin/ssh-keygen"])
        try clone.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        try clone.write("/etc/ssh/sshd_config", "# sshd\n")
        try clone.write("/etc/ssh/ssh_host_rsa_key", "golden secret\n", mode: 0o600)
        try clone.write("/etc/ssh/ssh_host_rsa_key.pub", "ssh-rsa AAAA root@golden\n")
        try clone.write("/etc/ssh/ssh_host_dsa_key", "golden secret\n", mode: 0o600)
        let chroot = ChrootRunner(root: clone.path)
        defer { chroot.teardown() }
        let summary = try CloneFixer(root: clone.path).regenerateSSHHostKeys(chroot: chroot)
        chroot.teardown()
        #expect(summary == "ssh: removed 3 host key files; generated ecdsa, ed25519, rsa")
        #expect(clone.list("/etc/ssh").filter { $0.hasPrefix("ssh_host_") } == [
            "ssh_host_ecdsa_key", "ssh_host_ecdsa_key.pub", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub",
            "ssh_host_rsa_key", "ssh_host_rsa_key.pub",
        ])
        #expect(clone.read("/etc/ssh/ssh_host_rsa_key.pub")?.hasPrefix("ssh-rsa AAAA root@golden") == false)
        #expect(FixupRoot.mounts(below: clone.path) == [])
    }
}
