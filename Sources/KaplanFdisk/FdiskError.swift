import Glibc

/// A failed libfdisk or libblkid call: which C function, on which device, with which errno, and why.
public struct FdiskError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The C function that failed, such as `fdisk_write_disklabel` or `blkid_do_safeprobe`.
    public let function: String
    /// The errno it reported (libfdisk returns it negated), or nil when the failure carries none.
    public let errno: Int32?
    /// The device or image file the call worked on.
    public let path: String
    /// What the library itself said while failing (libfdisk warnings) or why the wrapper refused the call.
    public let details: [String]
    /// The whole message for an operator: `fdisk_write_disklabel on lab/node1.img failed: No space left on device (errno 28)`.
    public let message: String

    /// Creates an error; the message is composed from the other fields.
    public init(function: String, errno: Int32?, path: String, details: [String] = []) {
        self.function = function
        self.errno = errno
        self.path = path
        self.details = details
        var text = "\(function) on \(path) failed"
        if let errno {
            text += ": \(Self.describe(errno: errno)) (errno \(errno))"
        }
        if !details.isEmpty {
            text += "; " + details.joined(separator: "; ")
        }
        self.message = text
    }

    /// The message.
    public var description: String { message }

    /// The C library's words for an errno value.
    static func describe(errno value: Int32) -> String {
        guard let text = strerror(value) else { return "error \(value)" }
        return String(cString: text)
    }
}

extension FdiskError {
    /// How a C function reports failure.
    enum Convention {
        /// libfdisk: a negative errno; zero or a positive value is success.
        case negativeErrno
        /// libblkid and libc: a negative return, with the cause in the global errno (or the return itself when it is below -1).
        case negativeWithErrno
    }

    /// The one place every libfdisk/libblkid return code is checked: returns `rc` when it means success, throws otherwise.
    @discardableResult
    static func check(
        _ rc: Int32, _ function: String, path: String, convention: Convention = .negativeErrno,
        details: @autoclosure () -> [String] = []
    ) throws(FdiskError) -> Int32 {
        if rc >= 0 { return rc }
        let code: Int32
        switch convention {
        case .negativeErrno: code = -rc
        case .negativeWithErrno:
            let saved = currentErrno()
            code = saved != 0 ? saved : (rc < -1 ? -rc : EIO)
        }
        throw FdiskError(function: function, errno: code, path: path, details: details())
    }
}

/// The calling thread's errno (a free function, so that `FdiskError.errno` does not shadow it).
private func currentErrno() -> Int32 { errno }
