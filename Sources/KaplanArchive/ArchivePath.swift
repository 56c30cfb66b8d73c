#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Path bytes as stored in the archive: relative to the tree root, `.` for the root itself, never `..` or absolute.
package enum ArchivePath {
    /// The bytes of a NUL-terminated C string (file names are bytes, not necessarily UTF-8).
    static func bytes(_ cString: UnsafePointer<CChar>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: cString, count: strlen(cString)))
    }

    /// The path of `absolute` relative to `root` (which has no trailing `/` unless it is `/`), or nil if outside it.
    static func relative(_ absolute: [UInt8], under root: [UInt8]) -> [UInt8]? {
        if absolute == root { return Array(".".utf8) }
        let prefix = root.last == UInt8(ascii: "/") ? root : root + [UInt8(ascii: "/")]
        guard absolute.count > prefix.count, absolute.starts(with: prefix) else { return nil }
        return Array(absolute[prefix.count...])
    }

    /// `path` in canonical form (no `./`, empty or trailing components), or nil if it is absolute or climbs with `..`.
    package static func normalized(_ path: [UInt8]) -> [UInt8]? {
        guard !path.isEmpty, path.first != UInt8(ascii: "/") else { return nil }
        var components: [ArraySlice<UInt8>] = []
        for component in path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.elementsEqual(".".utf8) { continue }
            if component.elementsEqual("..".utf8) { return nil }
            components.append(component)
        }
        if components.isEmpty { return Array(".".utf8) }
        return Array(components.joined(separator: [UInt8(ascii: "/")]))
    }

    /// The path for humans and manifests: the UTF-8 text, or with each byte of an invalid name written as `%XX`.
    package static func display(_ path: [UInt8]) -> String {
        if let text = String(validating: path, as: UTF8.self) { return text }
        let hexDigits = Array("0123456789ABCDEF".utf8)
        var escaped: [UInt8] = []
        for byte in path {
            if byte < 0x80 && byte != UInt8(ascii: "%") {
                escaped.append(byte)
            } else {
                escaped += [UInt8(ascii: "%"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: escaped, as: UTF8.self)
    }

    /// `path` with a NUL terminator, ready to hand to C.
    static func cString(_ path: [UInt8]) -> [CChar] {
        path.map { CChar(bitPattern: $0) } + [0]
    }

    /// The canonical, symlink-free absolute form of an existing directory, as bytes.
    static func resolvedDirectory(_ path: String, role: String) throws(ArchiveError) -> [UInt8] {
        guard let resolved = realpath(path, nil) else {
            let code = errno
            throw ArchiveError(
                kind: .invalidArgument, function: "realpath", errno: code,
                message: "cannot resolve the \(role) directory: \(String(cString: strerror(code)))", path: path)
        }
        defer { free(resolved) }
        var info = stat()
        guard stat(resolved, &info) == 0 else {
            let code = errno
            throw ArchiveError(
                kind: .invalidArgument, function: "stat", errno: code,
                message: "cannot stat the \(role) directory: \(String(cString: strerror(code)))", path: path)
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ArchiveError(
                kind: .invalidArgument, function: "stat", errno: ENOTDIR,
                message: "the \(role) is not a directory", path: path)
        }
        return bytes(resolved)
    }
}
