import CArchive
import KaplanDigest

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What one archive entry holds: its path, type, ownership, mode, times, link target and content digest.
public struct ManifestEntry: Sendable, Hashable, Codable {
    /// The type of a filesystem object as the archive records it.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A regular file with content.
        case file
        /// A directory.
        case directory
        /// A symbolic link; `linkTarget` holds its text.
        case symlink
        /// A further name for a regular file already in the archive; `linkTarget` holds the first name.
        case hardlink
        /// A character device node; `deviceMajor`/`deviceMinor` hold its number.
        case characterDevice
        /// A block device node; `deviceMajor`/`deviceMinor` hold its number.
        case blockDevice
        /// A named pipe.
        case fifo
    }

    /// The path relative to the tree root (`.` for the root itself); invalid UTF-8 bytes appear as `%XX`.
    public var path: String
    /// The type.
    public var kind: Kind
    /// The permission bits, including set-user-id, set-group-id and sticky (`0o7777` at most).
    public var mode: UInt32
    /// The numeric owner.
    public var uid: Int64
    /// The numeric group.
    public var gid: Int64
    /// The logical size in bytes (holes of sparse files included; 0 for hard links).
    public var size: Int64
    /// The modification time, whole seconds since the epoch.
    public var mtimeSeconds: Int64
    /// The modification time, nanoseconds within the second.
    public var mtimeNanoseconds: Int64
    /// The symlink's text or the hard link's first name.
    public var linkTarget: String?
    /// The device major number of a device node.
    public var deviceMajor: UInt32?
    /// The device minor number of a device node.
    public var deviceMinor: UInt32?
    /// The SHA-256 of a regular file's content, as 64 lowercase hex digits.
    public var sha256: String?
    /// The SHA-256 of the extended attributes and POSIX ACLs, when there are any.
    public var attributesSHA256: String?

    /// Creates an entry.
    public init(
        path: String, kind: Kind, mode: UInt32, uid: Int64, gid: Int64, size: Int64, mtimeSeconds: Int64,
        mtimeNanoseconds: Int64, linkTarget: String? = nil, deviceMajor: UInt32? = nil, deviceMinor: UInt32? = nil,
        sha256: String? = nil, attributesSHA256: String? = nil
    ) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtimeSeconds = mtimeSeconds
        self.mtimeNanoseconds = mtimeNanoseconds
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.sha256 = sha256
        self.attributesSHA256 = attributesSHA256
    }

    /// Describes `entry` (whose own path fields are ignored) under the display path `path`.
    init(entry: OpaquePointer, path: String, hardlinkTarget: String?, sha256: String?) {
        let fileType = archive_entry_filetype(entry)
        let kind: Kind
        var target: String? = nil
        var major: UInt32? = nil
        var minor: UInt32? = nil
        if let hardlinkTarget {
            kind = .hardlink
            target = hardlinkTarget
        } else {
            switch fileType {
            case FileType.directory: kind = .directory
            case FileType.symlink:
                kind = .symlink
                target = archive_entry_symlink(entry).map { ArchivePath.display(ArchivePath.bytes($0)) } ?? ""
            case FileType.characterDevice: kind = .characterDevice
            case FileType.blockDevice: kind = .blockDevice
            case FileType.fifo: kind = .fifo
            default: kind = .file
            }
        }
        if kind == .characterDevice || kind == .blockDevice {
            major = UInt32(truncatingIfNeeded: archive_entry_rdevmajor(entry))
            minor = UInt32(truncatingIfNeeded: archive_entry_rdevminor(entry))
        }
        self.init(
            path: path, kind: kind, mode: UInt32(archive_entry_perm(entry)) & 0o7777, uid: archive_entry_uid(entry),
            gid: archive_entry_gid(entry), size: kind == .file ? archive_entry_size(entry) : 0,
            mtimeSeconds: Int64(archive_entry_mtime(entry)), mtimeNanoseconds: Int64(archive_entry_mtime_nsec(entry)),
            linkTarget: target, deviceMajor: major, deviceMinor: minor, sha256: kind == .file ? sha256 : nil,
            attributesSHA256: Self.attributesDigest(entry))
    }

    /// SHA-256 over the entry's extended attributes and POSIX ACL entries (both sorted), or nil if it has none.
    ///
    /// A pax reader reports each xattr twice (from its `LIBARCHIVE.xattr` and `SCHILY.xattr` records), and ACL
    /// qualifiers come back with their numeric id as a name; so xattrs are keyed by name and ACLs by numeric id.
    static func attributesDigest(_ entry: OpaquePointer) -> String? {
        var attributes: [[UInt8]: [UInt8]] = [:]
        if archive_entry_xattr_reset(entry) > 0 {
            var name: UnsafePointer<CChar>? = nil
            var value: UnsafeRawPointer? = nil
            var size = 0
            while archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK {
                guard let name else { continue }
                attributes[ArchivePath.bytes(name)] =
                    value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            }
        }
        var acl: [[Int64]] = []
        let aclTypes = ARCHIVE_ENTRY_ACL_TYPE_ACCESS | ARCHIVE_ENTRY_ACL_TYPE_DEFAULT
        if archive_entry_acl_count(entry, aclTypes) > 0 {
            archive_entry_acl_reset(entry, aclTypes)
            var type: Int32 = 0
            var permissions: Int32 = 0
            var tag: Int32 = 0
            var qualifier: Int32 = 0
            var name: UnsafePointer<CChar>? = nil
            while archive_entry_acl_next(entry, aclTypes, &type, &permissions, &tag, &qualifier, &name) == ARCHIVE_OK {
                let numbered = tag == ARCHIVE_ENTRY_ACL_USER || tag == ARCHIVE_ENTRY_ACL_GROUP
                acl.append([Int64(type), Int64(tag), Int64(permissions), numbered ? Int64(qualifier) : -1])
            }
        }
        if attributes.isEmpty && acl.isEmpty { return nil }
        var encoder = CanonicalEncoder()
        encoder.append(Int64(attributes.count))
        for name in attributes.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            encoder.append(name)
            encoder.append(attributes[name]!)
        }
        encoder.append(Int64(acl.count))
        for item in acl.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            for field in item { encoder.append(field) }
        }
        return SHA256.hex(encoder.bytes)
    }

    /// The entry as unambiguous bytes (length-prefixed fields), the unit of the manifest digest.
    func encode(into encoder: inout CanonicalEncoder) {
        encoder.append(Array(path.utf8))
        encoder.append(Array(kind.rawValue.utf8))
        encoder.append(Int64(mode))
        encoder.append(uid)
        encoder.append(gid)
        encoder.append(size)
        encoder.append(mtimeSeconds)
        encoder.append(mtimeNanoseconds)
        encoder.append(linkTarget.map { Array($0.utf8) })
        encoder.append(deviceMajor.map { Int64($0) })
        encoder.append(deviceMinor.map { Int64($0) })
        encoder.append(sha256.map { Array($0.utf8) })
        encoder.append(attributesSHA256.map { Array($0.utf8) })
    }
}
