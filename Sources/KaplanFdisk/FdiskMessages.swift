import CFdisk
import Glibc

/// Collects what libfdisk says through its "ask" callback, so that a failure can quote the library's own words.
///
/// Dialogs are disabled on every context; should libfdisk still ask a question, the callback refuses it
/// (`-EINVAL`) and records the question, so nothing is ever answered by default behind the caller's back.
final class FdiskMessages {
    /// Warnings, refused questions, and (kept apart) informational lines since the last ``reset()``.
    private(set) var warnings: [String] = []
    /// Informational lines since the last ``reset()``.
    private(set) var infos: [String] = []

    /// Forgets what was said before the next C call.
    func reset() {
        warnings.removeAll()
        infos.removeAll()
    }

    /// Installs the callback on `context`; `self` must outlive the context.
    func install(on context: OpaquePointer) {
        let data = Unmanaged.passUnretained(self).toOpaque()
        fdisk_set_ask(context, fdiskAskCallback, data)
    }

    fileprivate func record(_ ask: OpaquePointer) -> Int32 {
        let type = fdisk_ask_get_type(ask)
        switch UInt32(bitPattern: type) {
        case FDISK_ASKTYPE_INFO.rawValue:
            if let text = fdisk_ask_print_get_mesg(ask) { infos.append(String(cString: text)) }
            return 0
        case FDISK_ASKTYPE_WARNX.rawValue:
            if let text = fdisk_ask_print_get_mesg(ask) { warnings.append("libfdisk: " + String(cString: text)) }
            return 0
        case FDISK_ASKTYPE_WARN.rawValue:
            let text = fdisk_ask_print_get_mesg(ask).map { String(cString: $0) } ?? "warning"
            let code = fdisk_ask_print_get_errno(ask)
            let reason = code != 0 ? ": " + FdiskError.describe(errno: code) : ""
            warnings.append("libfdisk: " + text + reason)
            return 0
        default:
            let query = fdisk_ask_get_query(ask).map { String(cString: $0) } ?? "a question"
            warnings.append("libfdisk asked \"\(query)\", but dialogs are disabled: the request left it undecided")
            return -EINVAL
        }
    }
}

/// The C callback libfdisk calls for every message and question; `data` is the context's ``FdiskMessages``.
private func fdiskAskCallback(
    _ context: OpaquePointer?, _ ask: OpaquePointer?, _ data: UnsafeMutableRawPointer?
) -> Int32 {
    guard let ask, let data else { return -EINVAL }
    return Unmanaged<FdiskMessages>.fromOpaque(data).takeUnretainedValue().record(ask)
}
