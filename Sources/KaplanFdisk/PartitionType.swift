/// A partition's type: an MBR type byte on a dos table, a type GUID (upper-case) on a GPT.
public enum PartitionType: Hashable, Sendable, CustomStringConvertible {
    /// An MBR partition type byte, such as 0x83 (Linux) or 0x05 (extended).
    case mbr(UInt8)
    /// A GPT partition type GUID, upper-case, such as `0FC63DAF-8483-4772-8E79-3D69D8477DE4`.
    case gpt(String)

    /// MBR 0x83: Linux data.
    public static let mbrLinux = PartitionType.mbr(0x83)
    /// MBR 0x82: Linux swap.
    public static let mbrLinuxSwap = PartitionType.mbr(0x82)
    /// MBR 0x05: extended partition (container of logical partitions).
    public static let mbrExtended = PartitionType.mbr(0x05)
    /// MBR 0xEF: EFI system partition.
    public static let mbrEFISystem = PartitionType.mbr(0xEF)
    /// GPT: EFI system partition.
    public static let gptEFISystem = PartitionType.gpt("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
    /// GPT: BIOS boot partition (GRUB's core image on a GPT disk booted by a BIOS).
    public static let gptBIOSBoot = PartitionType.gpt("21686148-6449-6E6F-744E-656564454649")
    /// GPT: Linux filesystem data.
    public static let gptLinuxFilesystem = PartitionType.gpt("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
    /// GPT: Linux swap.
    public static let gptLinuxSwap = PartitionType.gpt("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F")

    /// True for the MBR type bytes the Linux kernel treats as extended partitions (0x05, 0x0F, 0x85).
    public var isExtendedMBRType: Bool {
        if case .mbr(let code) = self { return code == 0x05 || code == 0x0F || code == 0x85 }
        return false
    }

    /// `0x83` or the GUID.
    public var description: String {
        switch self {
        case .mbr(let code):
            let hex = String(code, radix: 16)
            return "0x" + (hex.count < 2 ? "0" + hex : hex)
        case .gpt(let guid): return guid
        }
    }

    /// True when `text` has the shape of a GUID: 8-4-4-4-12 hexadecimal digits.
    static func isGUID(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12] else { return false }
        return groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }
}
