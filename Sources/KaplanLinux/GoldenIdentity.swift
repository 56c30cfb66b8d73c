import Foundation
import KaplanModel

/// Identifies the golden cheaply for stamps and saved plans: an image by its absolute path, size and mtime;
/// a live golden by its disk (its files are read at apply time).
public enum GoldenIdentity {
    /// The identity of `source`; image paths are resolved against `base`.
    public static func of(_ source: Golden.Source, base: String) -> String {
        switch source {
        case .disk(let device, let root): return "live:\(device):\(root)"
        case .image(let path):
            let absolute = path.hasPrefix("/") ? path : base + "/" + path
            let attributes = try? FileManager.default.attributesOfItem(atPath: absolute)
            let size = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
            let mtime = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "image:\(URL(fileURLWithPath: absolute).standardizedFileURL.path):\(size):\(Int64(mtime * 1000))"
        }
    }
}
