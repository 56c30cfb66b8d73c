import KaplanEngine
import KaplanGraph
import KaplanModel

// TEMPORARY (replaced by the CloneFixer glue in this same change): the chroot operations.
extension LinuxHost {
    public func fixup(node: String, fixup: Step.Fixup, facts: CloneFacts) async throws {
        throw HostError("not-implemented", "\(node).fixup[\(fixup.name)]: chroot fix-ups are not wired yet")
    }

    public func rebuildInitrd(node: String, tool: Bootloader.InitrdTool, modules: [String], facts: CloneFacts) async throws {
        throw HostError("not-implemented", "\(node).initrd: not wired yet")
    }

    public func installBootloader(node: String, bootloader: Bootloader, target: Target, facts: CloneFacts) async throws {
        throw HostError("not-implemented", "\(node).bootloader: not wired yet")
    }
}
