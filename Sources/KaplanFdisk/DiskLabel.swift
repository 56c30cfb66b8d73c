import CFdisk
import Glibc

/// The partition table of one device or image file, through one libfdisk context that this object owns.
///
/// Every change is made in memory; nothing reaches the device until ``write()`` is called, and a context opened
/// read-only refuses ``write()`` outright. `deinit` only frees the context (closing the device).
public final class DiskLabel {
    /// The device or image file.
    public let path: String
    /// Whether the device was opened read-only; in-memory edits still work, ``write()`` never does.
    public let isReadOnly: Bool

    private let context: OpaquePointer
    private let messages: FdiskMessages

    /// Opens `path` (a block device or an image file; no root needed for files) with libfdisk and reads its table.
    public init(path: String, readOnly: Bool = true) throws(FdiskError) {
        guard let context = fdisk_new_context() else {
            throw FdiskError(function: "fdisk_new_context", errno: ENOMEM, path: path)
        }
        let messages = FdiskMessages()
        messages.install(on: context)
        fdisk_disable_dialogs(context, 1)
        let rc = fdisk_assign_device(context, path, readOnly ? 1 : 0)
        if rc < 0 {
            fdisk_unref_context(context)
            try FdiskError.check(rc, "fdisk_assign_device", path: path, details: messages.warnings)
        }
        self.path = path
        self.isReadOnly = readOnly
        self.context = context
        self.messages = messages
    }

    deinit {
        fdisk_unref_context(context)
    }

    // MARK: - Geometry

    /// Logical sector size in bytes.
    public var sectorSize: UInt64 { UInt64(fdisk_get_sector_size(context)) }
    /// Number of logical sectors on the device.
    public var totalSectors: UInt64 { fdisk_get_nsectors(context) }
    /// Size of the device in bytes.
    public var sizeInBytes: UInt64 { totalSectors * sectorSize }
    /// The alignment grain in bytes (usually 1 MiB): libfdisk's unit for aligning partition starts.
    public var grainSize: UInt64 { UInt64(fdisk_get_grain_size(context)) }
    /// Offset in bytes between logical and physical sector boundaries (0 on almost every disk).
    public var alignmentOffset: UInt64 { UInt64(fdisk_get_alignment_offset(context)) }
    /// The first sector a data partition may use (aligned; 2048 with a 1 MiB grain and 512-byte sectors).
    public var firstUsableLBA: UInt64 { fdisk_get_first_lba(context) }
    /// The last sector a data partition may use (on a GPT, the sector before the backup partition array).
    public var lastUsableLBA: UInt64 { fdisk_get_last_lba(context) }

    // MARK: - Label

    /// The table currently in memory (read from the device, or created), or nil when there is none.
    public var labelType: PartitionTableType? {
        guard fdisk_has_label(context) != 0, let label = fdisk_get_label(context, nil),
            let name = fdisk_label_get_name(label)
        else { return nil }
        return PartitionTableType(rawValue: String(cString: name))
    }

    /// The disk identifier: `0x1a2b3c4d` on dos, the disk GUID on a GPT; nil without a table.
    public var diskIdentifier: String? {
        guard fdisk_has_label(context) != 0 else { return nil }
        var id: UnsafeMutablePointer<CChar>?
        guard fdisk_get_disklabel_id(context, &id) == 0, let id else { return nil }
        defer { free(id) }
        return String(cString: id)
    }

    /// A signature libfdisk's new table would collide with: a filesystem found at the start of a device without a
    /// table (`ext4`), or, after ``createLabel(_:)`` of another type, the old table (`gpt`); see ``wipeSignatures()``.
    public var collision: String? {
        fdisk_get_collision(context).map { String(cString: $0) }
    }

    /// Whether ``collision`` is a partition table (one libfdisk may not even support) rather than a filesystem.
    public var collisionIsPartitionTable: Bool { fdisk_is_ptcollision(context) != 0 }

    /// Replaces the table in memory by a new, empty one of `type` (a fresh disk identifier; nothing written yet).
    public func createLabel(_ type: PartitionTableType) throws(FdiskError) {
        try call("fdisk_create_disklabel") { fdisk_create_disklabel($0, type.rawValue) }
    }

    /// Asks that the next ``write()`` first erase, with libblkid, every table, filesystem and RAID signature on the device.
    ///
    /// libblkid probes the whole device as a whole-disk probe does: the old tables (primary GPT header, backup header
    /// at the end, protective MBR) and a filesystem at the device's start. Filesystems inside old partitions are
    /// not found and stay as they are.
    public func wipeSignatures() throws(FdiskError) {
        try call("fdisk_enable_wipe") { fdisk_enable_wipe($0, 1) }
    }

    /// Whether the next ``write()`` will wipe signatures first.
    public var willWipeSignatures: Bool { fdisk_has_wipe(context) != 0 }

    /// Writes the table in memory to the device (wiping signatures first if asked), then fsyncs it.
    public func write() throws(FdiskError) {
        guard !isReadOnly else {
            throw FdiskError(
                function: "fdisk_write_disklabel", errno: EROFS, path: path,
                details: ["the disk was opened read-only; nothing was written"])
        }
        guard labelType != nil else {
            throw refusal(
                "fdisk_write_disklabel", EINVAL, "there is no partition table in memory; call createLabel first")
        }
        try call("fdisk_write_disklabel") { fdisk_write_disklabel($0) }
        try call("fsync") { context in
            fsync(fdisk_get_devfd(context)) == 0 ? 0 : -currentErrno()
        }
    }

    // MARK: - Partitions

    /// Every used partition of the table in memory (the dos extended container included), by number.
    public func partitions() throws(FdiskError) -> [PartitionInfo] {
        guard fdisk_has_label(context) != 0 else { return [] }
        var table: OpaquePointer?
        try call("fdisk_get_partitions") { fdisk_get_partitions($0, &table) }
        guard let table else { return [] }
        defer { fdisk_unref_table(table) }
        guard let iterator = fdisk_new_iter(Int32(FDISK_ITER_FORWARD)) else {
            throw FdiskError(function: "fdisk_new_iter", errno: ENOMEM, path: path)
        }
        defer { fdisk_free_iter(iterator) }
        var result: [PartitionInfo] = []
        var partition: OpaquePointer?
        while fdisk_table_next_partition(table, iterator, &partition) == 0, let partition {
            if fdisk_partition_is_used(partition) != 0 {
                result.append(info(of: partition))
            }
        }
        return result.sorted { $0.number < $1.number }
    }

    /// The free ranges libfdisk sees in the table in memory, as (first sector, size in sectors).
    public func freeSpaces() throws(FdiskError) -> [(start: UInt64, size: UInt64)] {
        guard fdisk_has_label(context) != 0 else { return [] }
        var table: OpaquePointer?
        try call("fdisk_get_freespaces") { fdisk_get_freespaces($0, &table) }
        guard let table else { return [] }
        defer { fdisk_unref_table(table) }
        var result: [(start: UInt64, size: UInt64)] = []
        for index in 0..<fdisk_table_get_nents(table) {
            guard let partition = fdisk_table_get_partition(table, index) else { continue }
            result.append((fdisk_partition_get_start(partition), fdisk_partition_get_size(partition)))
        }
        return result
    }

    /// Adds one partition exactly as specified, in memory, and returns it as the table now holds it.
    ///
    /// libfdisk would quietly move a start it finds taken, align an end, turn a "primary" inside the extended
    /// partition into a logical one, or renumber: each of those is refused here, and the table is left as before.
    @discardableResult
    public func addPartition(_ spec: PartitionSpec) throws(FdiskError) -> PartitionInfo {
        let function = "fdisk_add_partition"
        let label = try validate(spec)

        guard let template = fdisk_new_partition() else {
            throw FdiskError(function: "fdisk_new_partition", errno: ENOMEM, path: path)
        }
        defer { fdisk_unref_partition(template) }
        try call(function) { _ in fdisk_partition_set_start(template, spec.start) }
        try call(function) { _ in fdisk_partition_set_size(template, spec.size) }
        try call(function) { _ in fdisk_partition_size_explicit(template, 1) }
        if let number = spec.number {
            try call(function) { _ in fdisk_partition_set_partno(template, number - 1) }
        } else {
            try call(function) { _ in fdisk_partition_partno_follow_default(template, 1) }
        }
        let partitionType = try makeType(spec.type, label: label)
        defer { fdisk_unref_parttype(partitionType) }
        try call(function) { _ in fdisk_partition_set_type(template, partitionType) }
        if let name = spec.name {
            try call(function) { _ in fdisk_partition_set_name(template, name) }
        }

        var index = 0
        try call(function) { fdisk_add_partition($0, template, &index) }

        do throws(FdiskError) {
            if spec.bootable {
                let flag = labelType == .dos ? UInt(DOS_FLAG_ACTIVE) : UInt(GPT_FLAG_LEGACYBOOT)
                try call("fdisk_toggle_partition_flag") { fdisk_toggle_partition_flag($0, index, flag) }
            }
            let added = try partition(index: index)
            let placed = "partition \(added.number) at sectors \(added.start)+\(added.size)"
            let wanted = "\(spec.number.map(String.init) ?? "any number") at sectors \(spec.start)+\(spec.size)"
            if added.start != spec.start || added.size != spec.size
                || (spec.number != nil && spec.number != added.number)
            {
                throw refusal(function, EINVAL, "libfdisk placed \(placed), not \(wanted) as requested")
            }
            if added.kind != spec.kind {
                throw refusal(function, EINVAL, "libfdisk made \(placed) \(added.kind), not \(spec.kind)")
            }
            return added
        } catch {
            fdisk_delete_partition(context, index)
            throw error
        }
    }

    /// Removes partition `number` (1-based) from the table in memory; dos logical partitions after it move down.
    public func deletePartition(number: Int) throws(FdiskError) {
        guard number >= 1 else { throw refusal("fdisk_delete_partition", EINVAL, "partition numbers start at 1") }
        try call("fdisk_delete_partition") { fdisk_delete_partition($0, number - 1) }
    }

    // MARK: - Private

    /// Runs one libfdisk call on the context and checks its return code, quoting libfdisk's warnings on failure.
    @discardableResult
    private func call(_ function: String, _ body: (OpaquePointer) -> Int32) throws(FdiskError) -> Int32 {
        messages.reset()
        let rc = body(context)
        return try FdiskError.check(rc, function, path: path, details: messages.warnings)
    }

    /// An error for a request the wrapper refuses before (or instead of) letting libfdisk act on it.
    private func refusal(_ function: String, _ code: Int32, _ reason: String) -> FdiskError {
        FdiskError(function: function, errno: code, path: path, details: [reason])
    }

    /// Checks a specification against the table in memory; returns the label handle to build the type with.
    private func validate(_ spec: PartitionSpec) throws(FdiskError) -> OpaquePointer {
        let function = "fdisk_add_partition"
        let what = "partition \(spec.number.map(String.init) ?? "(next)")"
        guard let type = labelType, type == .dos || type == .gpt, let label = fdisk_get_label(context, nil) else {
            throw refusal(
                function, EINVAL, "\(what): the disk has no dos or gpt table in memory; call createLabel first")
        }
        guard spec.size > 0 else { throw refusal(function, EINVAL, "\(what): size is 0 sectors") }
        let (end, overflow) = spec.start.addingReportingOverflow(spec.size - 1)
        guard !overflow, end <= lastUsableLBA, spec.start >= 1 else {
            throw refusal(
                function, ERANGE,
                "\(what): sectors \(spec.start)...\(overflow ? "overflow" : String(end)) lie outside the usable "
                    + "range \(firstUsableLBA)...\(lastUsableLBA) of this \(totalSectors)-sector disk")
        }
        if let number = spec.number, number < 1 {
            throw refusal(function, EINVAL, "\(what): partition numbers start at 1")
        }
        if type == .gpt {
            guard case .gpt(let guid) = spec.type, PartitionType.isGUID(guid) else {
                throw refusal(function, EINVAL, "\(what): a gpt table takes a type GUID, not \(spec.type)")
            }
            guard spec.kind == .primary else {
                throw refusal(function, EINVAL, "\(what): a gpt table has no extended or logical partitions")
            }
            return label
        }

        // dos
        guard case .mbr = spec.type else {
            throw refusal(function, EINVAL, "\(what): a dos table takes an MBR type byte, not \(spec.type)")
        }
        guard spec.name == nil else {
            throw refusal(function, EINVAL, "\(what): dos partitions have no names")
        }
        if (spec.kind == .extended) != spec.type.isExtendedMBRType {
            throw refusal(
                function, EINVAL,
                spec.kind == .extended
                    ? "\(what) is extended but its type \(spec.type) is not an extended type (0x05, 0x0f, 0x85)"
                    : "\(what) is \(spec.kind) but its type \(spec.type) is an extended type")
        }
        let existing = try partitions()
        let extended = existing.first(where: \.isExtended)
        let insideExtended = extended.map { spec.start >= $0.start && spec.start <= $0.end } ?? false
        switch spec.kind {
        case .primary, .extended:
            if let number = spec.number, number > 4 {
                throw refusal(function, EINVAL, "\(what): primary and extended partitions are numbered 1 to 4")
            }
            if spec.kind == .extended, let extended {
                throw refusal(function, EINVAL, "\(what): partition \(extended.number) is already the extended one")
            }
            if insideExtended, let extended {
                throw refusal(
                    function, EINVAL,
                    "\(what): a \(spec.kind) partition cannot start inside extended partition "
                        + "\(extended.number) (sectors \(extended.start)...\(extended.end))")
            }
        case .logical:
            guard let extended else {
                throw refusal(function, EINVAL, "\(what): a logical partition needs an extended partition first")
            }
            guard insideExtended, spec.end <= extended.end else {
                throw refusal(
                    function, ERANGE,
                    "\(what): a logical partition must lie inside extended partition \(extended.number) "
                        + "(sectors \(extended.start)...\(extended.end))")
            }
            let next = 5 + existing.filter(\.isLogical).count
            if let number = spec.number, number != next {
                throw refusal(
                    function, EINVAL,
                    "\(what): logical partitions are numbered in the order they are added; the next one is \(next)")
            }
        }
        return label
    }

    /// A libfdisk partition type for `type` on `label` (a known one, or an "unknown" one carrying the code/GUID).
    private func makeType(_ type: PartitionType, label: OpaquePointer) throws(FdiskError) -> OpaquePointer {
        let made: OpaquePointer?
        switch type {
        case .mbr(let code):
            made =
                fdisk_label_get_parttype_from_code(label, UInt32(code))
                ?? fdisk_new_unknown_parttype(UInt32(code), nil)
        case .gpt(let guid):
            made =
                fdisk_label_get_parttype_from_string(label, guid.uppercased())
                ?? fdisk_new_unknown_parttype(0, guid.uppercased())
        }
        guard let made else { throw FdiskError(function: "fdisk_new_unknown_parttype", errno: ENOMEM, path: path) }
        return made
    }

    /// Partition at 0-based `index`, as the table in memory holds it.
    private func partition(index: Int) throws(FdiskError) -> PartitionInfo {
        var partition: OpaquePointer?
        try call("fdisk_get_partition") { fdisk_get_partition($0, index, &partition) }
        guard let partition else { throw FdiskError(function: "fdisk_get_partition", errno: ENOENT, path: path) }
        defer { fdisk_unref_partition(partition) }
        return info(of: partition)
    }

    /// Converts a libfdisk partition into a value.
    private func info(of partition: OpaquePointer) -> PartitionInfo {
        let number = fdisk_partition_get_partno(partition) + 1
        let isGPT = fdisk_is_labeltype(context, FDISK_DISKLABEL_GPT) != 0
        var type = PartitionType.mbr(0)
        var typeName: String?
        if let partitionType = fdisk_partition_get_type(partition) {
            if isGPT {
                let guid = fdisk_parttype_get_string(partitionType).map { String(cString: $0) } ?? ""
                type = .gpt(guid.uppercased())
            } else {
                type = .mbr(UInt8(truncatingIfNeeded: fdisk_parttype_get_code(partitionType)))
            }
            if fdisk_parttype_is_unknown(partitionType) == 0 {
                typeName = fdisk_parttype_get_name(partitionType).map { String(cString: $0) }
            }
        }
        var bootable = fdisk_partition_is_bootable(partition) == 1
        if isGPT {
            var attributes: UInt64 = 0
            if fdisk_gpt_get_partition_attrs(context, number - 1, &attributes) == 0 {
                bootable = attributes & (1 << 2) != 0  // bit 2: legacy BIOS bootable
            }
        }
        let kind: PartitionKind =
            fdisk_partition_is_container(partition) != 0
            ? .extended : (fdisk_partition_is_nested(partition) != 0 ? .logical : .primary)
        let name = fdisk_partition_get_name(partition).map { String(cString: $0) }
        return PartitionInfo(
            number: number,
            start: fdisk_partition_get_start(partition),
            size: fdisk_partition_get_size(partition),
            type: type,
            typeName: typeName,
            name: name.flatMap { $0.isEmpty ? nil : $0 },
            bootable: bootable,
            kind: kind,
            uuid: fdisk_partition_get_uuid(partition).map { String(cString: $0).uppercased() },
            attributes: fdisk_partition_get_attrs(partition).map { String(cString: $0) })
    }
}

/// The calling thread's errno.
private func currentErrno() -> Int32 { errno }
