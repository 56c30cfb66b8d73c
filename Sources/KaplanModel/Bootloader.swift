/// The bootloader and initrd each clone gets, installed from inside the clone.
public struct Bootloader: Sendable, Hashable, Codable {
    /// Which bootloader.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// GRUB 2 for BIOS (i386-pc), in the MBR (and a bios-boot partition on gpt).
        case grubBIOS = "grub-bios"
        /// GRUB 2 for UEFI (x86_64-efi), in the EFI system partition.
        case grubEFI = "grub-efi"
        /// SYSLINUX's extlinux.
        case extlinux
        /// LILO, only when the clone has it.
        case lilo
        /// Leave boot code alone.
        case none
    }

    /// How the initrd is rebuilt.
    public enum InitrdTool: String, Sendable, Hashable, Codable, CaseIterable {
        /// Whatever the clone has: update-initramfs, then dracut, then mkinitrd.
        case auto
        /// Debian's initramfs-tools.
        case updateInitramfs = "update-initramfs"
        /// dracut.
        case dracut
        /// Legacy mkinitrd.
        case mkinitrd
    }

    /// Which bootloader.
    public var kind: Kind
    /// grub-efi: install to the removable-media path (`EFI/BOOT/BOOTX64.EFI`) too.
    public var removable: Bool
    /// Extra kernel command line arguments, one each.
    public var kernelOptions: [String]
    /// Rebuild the initrd.
    public var initrdRebuild: Bool
    /// Kernel modules the initrd must hold (the KA method's `--with=`).
    public var initrdModules: [String]
    /// The initrd tool.
    public var initrdTool: InitrdTool
    /// Where the bootloader was declared.
    public var range: SourceRange

    /// Creates a bootloader setting.
    public init(
        kind: Kind, removable: Bool = false, kernelOptions: [String] = [], initrdRebuild: Bool = true,
        initrdModules: [String] = [], initrdTool: InitrdTool = .auto, range: SourceRange
    ) {
        self.kind = kind
        self.removable = removable
        self.kernelOptions = kernelOptions
        self.initrdRebuild = initrdRebuild
        self.initrdModules = initrdModules
        self.initrdTool = initrdTool
        self.range = range
    }
}
