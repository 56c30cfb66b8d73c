import CBlkid
import Glibc

/// Read-only libblkid probing of devices, image files and regions inside them; it never writes a byte.
///
/// Every probe opens its own descriptor with `O_RDONLY`, so even a bug here cannot modify the target. Regions
/// (`offset`, `size` in bytes) let a caller look at a filesystem inside an image file's partition without a
/// loop device.
public enum BlockProbe {
    /// The filesystem (or swap, RAID, crypto) signature at the start of the region, or nil when the region is blank.
    ///
    /// `size` nil means "to the end of the file or device". Throws when libblkid finds more than one valid
    /// superblock (an "ambivalent" result: a stale signature that must be wiped first).
    public static func probe(path: String, offset: UInt64 = 0, size: UInt64? = nil) throws(FdiskError)
        -> FilesystemInfo?
    {
        try withProbe(path: path, offset: offset, size: size) { probe throws(FdiskError) in
            try check(blkid_probe_enable_partitions(probe, 0), "blkid_probe_enable_partitions", path)
            try check(blkid_probe_enable_superblocks(probe, 1), "blkid_probe_enable_superblocks", path)
            let flags = BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_USAGE
            try check(blkid_probe_set_superblocks_flags(probe, flags), "blkid_probe_set_superblocks_flags", path)
            guard try safeProbe(probe, path: path), let type = value(probe, "TYPE") else { return nil }
            return FilesystemInfo(
                type: type, uuid: value(probe, "UUID"), label: value(probe, "LABEL"), usage: value(probe, "USAGE"))
        }
    }

    /// The partition table that counts on the device or region (as the kernel and udev would see it), or nil.
    public static func probeTable(path: String, offset: UInt64 = 0, size: UInt64? = nil) throws(FdiskError)
        -> PartitionTableInfo?
    {
        try withProbe(path: path, offset: offset, size: size) { probe throws(FdiskError) in
            try check(blkid_probe_enable_superblocks(probe, 0), "blkid_probe_enable_superblocks", path)
            try check(blkid_probe_enable_partitions(probe, 1), "blkid_probe_enable_partitions", path)
            guard try safeProbe(probe, path: path), let type = value(probe, "PTTYPE") else { return nil }
            return PartitionTableInfo(type: PartitionTableType(rawValue: type), uuid: value(probe, "PTUUID"))
        }
    }

    /// Every table and superblock magic libblkid recognises in the region, the stale ones included (as `wipefs -n`).
    ///
    /// GPT headers are reported even behind a non-protective MBR; libblkid looks at the backup GPT header (at the
    /// region's end) only when the primary one is missing or broken, so a leftover backup still shows up here.
    public static func signatures(path: String, offset: UInt64 = 0, size: UInt64? = nil) throws(FdiskError)
        -> [Signature]
    {
        try withProbe(path: path, offset: offset, size: size) { probe throws(FdiskError) in
            try check(blkid_probe_enable_superblocks(probe, 1), "blkid_probe_enable_superblocks", path)
            try check(
                blkid_probe_set_superblocks_flags(probe, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM),
                "blkid_probe_set_superblocks_flags", path)
            try check(blkid_probe_enable_partitions(probe, 1), "blkid_probe_enable_partitions", path)
            try check(
                blkid_probe_set_partitions_flags(probe, BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT),
                "blkid_probe_set_partitions_flags", path)
            var found: [Signature] = []
            while true {
                let rc = blkid_do_probe(probe)
                if rc == 1 { break }
                try check(rc, "blkid_do_probe", path)
                if let type = value(probe, "TYPE") {
                    let at = value(probe, "SBMAGIC_OFFSET").flatMap { UInt64($0) } ?? 0
                    found.append(Signature(type: type, isPartitionTable: false, offset: at))
                } else if let type = value(probe, "PTTYPE") {
                    let at = value(probe, "PTMAGIC_OFFSET").flatMap { UInt64($0) } ?? 0
                    found.append(Signature(type: type, isPartitionTable: true, offset: at))
                }
            }
            return found
        }
    }

    // MARK: - Private

    /// Opens `path` read-only, points a new probe at the region, runs `body`, then frees the probe and closes the file.
    private static func withProbe<T>(
        path: String, offset: UInt64, size: UInt64?, _ body: (OpaquePointer) throws(FdiskError) -> T
    ) throws(FdiskError) -> T {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { try check(-1, "open", path) }
        defer { close(descriptor) }
        guard let probe = blkid_new_probe() else {
            throw FdiskError(function: "blkid_new_probe", errno: ENOMEM, path: path)
        }
        defer { blkid_free_probe(probe) }
        guard let start = Int64(exactly: offset), let length = Int64(exactly: size ?? 0) else {
            throw FdiskError(
                function: "blkid_probe_set_device", errno: EOVERFLOW, path: path,
                details: ["region \(offset)+\(size ?? 0) does not fit a 64-bit file offset"])
        }
        try check(
            blkid_probe_set_device(probe, descriptor, start, length), "blkid_probe_set_device", path,
            region: (offset, size))
        return try body(probe)
    }

    /// Runs `blkid_do_safeprobe`: true when something was found, false when nothing was, throws otherwise.
    private static func safeProbe(_ probe: OpaquePointer, path: String) throws(FdiskError) -> Bool {
        let rc = blkid_do_safeprobe(probe)
        if rc == -2 {
            throw FdiskError(
                function: "blkid_do_safeprobe", errno: nil, path: path,
                details: [
                    "more than one valid signature found (ambivalent result); "
                        + "list them with `wipefs -n` and wipe the stale one"
                ])
        }
        try check(rc, "blkid_do_safeprobe", path)
        return rc == 0
    }

    /// A value libblkid set during the last probe (TYPE, UUID, LABEL, PTTYPE, …).
    private static func value(_ probe: OpaquePointer, _ name: String) -> String? {
        var data: UnsafePointer<CChar>?
        guard blkid_probe_lookup_value(probe, name, &data, nil) == 0, let data else { return nil }
        return String(cString: data)
    }

    /// Checks a libblkid/libc return code (negative on failure, cause in errno) through ``FdiskError/check``.
    private static func check(
        _ rc: Int32, _ function: String, _ path: String, region: (UInt64, UInt64?)? = nil
    ) throws(FdiskError) {
        let details = region.map { ["region at byte \($0.0), \($0.1.map { "\($0) bytes" } ?? "to the end")"] } ?? []
        try FdiskError.check(rc, function, path: path, convention: .negativeWithErrno, details: details)
    }
}
