import Foundation
import KaplanEngine
import KaplanModel
import Testing

@testable import KaplanLinux

/// grub-mkconfig in a clone whose / is on a loop device: for that one run, /etc/default/grub names the root by its
/// by-uuid link (10_linux writes no menu entry for /dev/loop0…9), and the file is put back byte for byte after.
@Suite struct FixupGrubDeviceTests {
    static let defaultGrub = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"console=ttyS0\""  // no final newline

    func facts() throws -> CloneFacts {
        try fixupFacts(
            [fixupPartition("root", .ext4, "/"), fixupPartition("swap", .swap)],
            uuids: ["root": FixupTests.rootUUID, "swap": FixupTests.swapUUID])
    }

    @Test func grubMkconfigSeesTheRootByUUIDAndTheFileComesBackUnchanged() throws {
        let root = try FixupRoot()
        try root.write("/etc/default/grub", Self.defaultGrub, mode: 0o600)
        var seen: String? = nil
        try LinuxHost.withRootDevice(root: root.path, node: "node03", facts: try facts()) { seen = root.read("/etc/default/grub") }
        #expect(seen == Self.defaultGrub + "\nGRUB_DEVICE=/dev/disk/by-uuid/\(FixupTests.rootUUID)  # kaplan: for this grub-mkconfig run only; removed again\nGRUB_DEVICE_UUID=\(FixupTests.rootUUID)  # kaplan: for this grub-mkconfig run only; removed again\n")
        #expect(root.read("/etc/default/grub") == Self.defaultGrub)
        #expect(root.status("/etc/default/grub").st_mode & 0o7777 == 0o600)
    }

    @Test func theFileIsRestoredWhenGrubMkconfigFails() throws {
        let root = try FixupRoot()
        try root.write("/etc/default/grub", Self.defaultGrub)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try LinuxHost.withRootDevice(root: root.path, node: "node03", facts: try facts()) { throw Boom() }
        }
        #expect(root.read("/etc/default/grub") == Self.defaultGrub)
    }

    @Test func aCloneWithoutDefaultGrubIsLeftWithout() throws {
        let root = try FixupRoot()
        try FileManager.default.createDirectory(atPath: root.host("/etc/default"), withIntermediateDirectories: true)
        var seen: String? = nil
        try LinuxHost.withRootDevice(root: root.path, node: "node03", facts: try facts()) { seen = root.read("/etc/default/grub") }
        #expect(seen?.hasPrefix("GRUB_DEVICE=/dev/disk/by-uuid/\(FixupTests.rootUUID)") == true)
        #expect(!root.exists("/etc/default/grub"))
    }
}
