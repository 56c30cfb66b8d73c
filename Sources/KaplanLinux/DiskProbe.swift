import Foundation
import KaplanFdisk
import KaplanModel

/// Reads a target's state without writing a byte: libfdisk (read-only context) for the table, libblkid
/// (O_RDONLY) for each partition's filesystem, and the deployment stamp through `debugfs` (read-only) when
/// the root filesystem is ext2/3/4.
public enum DiskProbe {
    /// The state of `path` (a block device or an image file).
    public static func probe(path: String, rootPartition: Int? = nil) throws -> DeviceState {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ProbeError(path: path, message: "does not exist", hint: path.hasPrefix("/dev/") ? nil : "create it, e.g. truncate -s 8G \(path)")
        }
        let label: DiskLabel
        do {
            label = try DiskLabel(path: path, readOnly: true)
        } catch {
            throw ProbeError(path: path, message: "cannot be read: \(error)", hint: nil)
        }
        let size = label.sizeInBytes
        var state = DeviceState(sizeBytes: size)
        switch label.labelType {
        case .some(.dos): state.table = .dos
        case .some(.gpt): state.table = .gpt
        default: state.table = nil
        }
        if state.table == nil {
            if let fs = try? BlockProbe.probe(path: path) {
                state.wholeDiskFilesystem = DeviceState.ObservedFilesystem(type: fs.type, uuid: fs.uuid, label: fs.label)
            }
            return state
        }
        let sector = label.sectorSize
        for p in (try? label.partitions()) ?? [] {
            var observed = DeviceState.ObservedPartition(
                number: p.number, start: p.start * sector / 512, sectors: p.size * sector / 512, type: typeString(p.type))
            if !p.isExtended, let fs = try? BlockProbe.probe(path: path, offset: p.start * sector, size: p.size * sector) {
                observed.filesystem = DeviceState.ObservedFilesystem(type: fs.type, uuid: fs.uuid, label: fs.label)
            }
            state.partitions.append(observed)
        }
        state.partitions.sort { $0.number < $1.number }
        state.stamp = readStamp(path: path, state: state, sector: sector)
        return state
    }

    static func typeString(_ type: KaplanFdisk.PartitionType) -> String {
        switch type {
        case .mbr: type.description.lowercased()
        case .gpt(let guid): guid.uppercased()
        }
    }

    /// The stamp in the first ext* filesystem that holds `/var/lib/kaplan/stamp.json`, read with debugfs
    /// (which opens the filesystem read-only) from the partition's byte range; nil when there is none.
    static func readStamp(path: String, state: DeviceState, sector: UInt64) -> DeploymentStamp? {
        for p in state.partitions {
            guard let fs = p.filesystem, ["ext2", "ext3", "ext4"].contains(fs.type) else { continue }
            let offset = p.start * 512
            // debugfs opens the filesystem read-only; `FILE?offset=N` reads it from the partition's first byte.
            let result = Command.run(
                "/sbin/debugfs", ["-R", "cat /var/lib/kaplan/stamp.json", "\(path)?offset=\(offset)"], timeout: 30)
            guard result.status == 0, let data = result.stdout.data(using: .utf8), !data.isEmpty,
                let stamp = try? JSONDecoder().decode(DeploymentStamp.self, from: data)
            else { continue }
            return stamp
        }
        return nil
    }
}

/// A target that could not be probed.
public struct ProbeError: Error, CustomStringConvertible {
    /// The device or image.
    public var path: String
    /// What is wrong.
    public var message: String
    /// What to do.
    public var hint: String?

    /// `PATH MESSAGE (hint)`.
    public var description: String { "\(path) \(message)" + (hint.map { "; \($0)" } ?? "") }
}
