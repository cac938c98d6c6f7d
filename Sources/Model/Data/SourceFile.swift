import Foundation

/// The raw bytes of one data file, with the helpers every reader shares: strict UTF-8
/// decoding that reports file:line, and iteration over lines (LF or CRLF endings).
struct SourceFile {
    let url: URL
    let bytes: [UInt8]
    /// Index of the first content byte: 3 when the file starts with a UTF-8 byte-order mark.
    let contentStart: Int
    let path: String
    /// The last path component, used in example ids ("train.tsv:17").
    let name: String

    /// Reads the whole file. `hint` completes the "file not found" message (how to get the file).
    init(_ url: URL, hint: String = "Check the path.") throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DataError.missingFile(path: url.path, hint: hint)
        }
        guard !isDirectory.boolValue else {
            throw DataError.unreadableFile(path: url.path, reason: "it is a directory")
        }
        bytes = try Self.readBytes(url.path)
        self.url = url
        path = url.path
        name = url.lastPathComponent
        contentStart = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    /// The file's bytes, read straight into the array (no intermediate `Data` copy).
    private static func readBytes(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw DataError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw DataError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        let size = Int(status.st_size)
        var failure: String?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var offset = 0
            while offset < size, let base = buffer.baseAddress {
                let count = read(descriptor, base + offset, size - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    failure = count < 0 ? String(cString: strerror(errno)) : "the file shrank while being read"
                    break
                }
                offset += count
            }
            initialized = offset
        }
        if let failure { throw DataError.unreadableFile(path: path, reason: failure) }
        return bytes
    }

    /// The bytes as UTF-8 text; `line` is where they start, for the error message.
    func decode(_ bytes: UnsafeBufferPointer<UInt8>, line: Int) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DataError.invalidEncoding(path: path, line: line)
        }
        return text
    }

    /// Calls `body(lineNumber, lineBytes)` for every line (1-based numbers), without the
    /// line terminator ("\n" or "\r\n"). A final line without a terminator is included;
    /// the empty remainder after a final terminator is not.
    func forEachLine(_ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        try bytes.withUnsafeBufferPointer { buffer in
            var start = contentStart
            var lineNumber = 1
            while start < buffer.count {
                var end = start
                while end < buffer.count && buffer[end] != ASCII.newline { end += 1 }
                var stop = end
                if stop > start && buffer[stop - 1] == ASCII.carriageReturn { stop -= 1 }
                try body(lineNumber, UnsafeBufferPointer(rebasing: buffer[start..<stop]))
                lineNumber += 1
                start = end + 1
            }
        }
    }
}

/// The byte values the readers look for.
enum ASCII {
    static let newline: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let tab: UInt8 = 0x09
    static let comma: UInt8 = 0x2C
    static let quote: UInt8 = 0x22
    static let hash: UInt8 = 0x23

    /// True when every byte is a space, tab, CR or LF.
    static func isBlank(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == tab || $0 == carriageReturn || $0 == newline }
    }
}
