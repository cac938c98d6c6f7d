import Foundation

/// float64 arrays in numpy's .npy format, version 1.0, C order — byte for byte what
/// `numpy.save` writes: the magic "\x93NUMPY", version 1 0, a little-endian UInt16 header
/// length, the header dict `{'descr': '<f8', 'fortran_order': False, 'shape': (…), }` padded
/// with spaces and ending in a newline so the data starts at a multiple of 64 bytes, then the
/// values as little-endian IEEE doubles.
public enum NumpyFile {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// The header text for `shape`: numpy's spelling, `(5,)` for one dimension.
    static func header(shape: [Int]) -> String {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': \(dims), }"
        // 10 bytes of preamble + dict + padding + "\n" is a multiple of 64.
        let unpadded = 10 + dict.utf8.count + 1
        let padding = (64 - unpadded % 64) % 64
        return dict + String(repeating: " ", count: padding) + "\n"
    }

    /// The bytes of a .npy file holding `values` (C order) with `shape`.
    public static func encode(_ values: [Double], shape: [Int]) -> Data {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values")
        let text = Array(header(shape: shape).utf8)
        var data = Data(magic)
        data.append(contentsOf: [1, 0, UInt8(text.count & 0xFF), UInt8(text.count >> 8)])
        data.append(contentsOf: text)
        if UInt64(1).littleEndian == 1 {
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        } else {
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        }
        return data
    }

    /// Writes a .npy file atomically (temporary file in the same folder, then rename).
    public static func write(_ values: [Double], shape: [Int], to url: URL) throws {
        try FileOperations.writeAtomically(encode(values, shape: shape), to: url)
    }

    /// Reads a float64, C-order .npy file (version 1.0 or 2.0) written by numpy or by `write`.
    public static func read(_ url: URL) throws -> (shape: [Int], values: [Double]) {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw NumpyFileError.unreadable(url.path)
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw NumpyFileError.malformed(url.path, "the file does not start with the .npy magic \\x93NUMPY")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; headerStart = 10
        case 2:
            guard bytes.count >= 12 else { throw NumpyFileError.malformed(url.path, "truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }; headerStart = 12
        default: throw NumpyFileError.malformed(url.path, "unsupported .npy version \(major)")
        }
        guard bytes.count >= headerStart + headerLength else { throw NumpyFileError.malformed(url.path, "truncated header") }
        let text = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard text.contains("'descr': '<f8'") else {
            throw NumpyFileError.malformed(url.path, "dtype is not little-endian float64 ('<f8'); header: \(text)")
        }
        guard text.contains("'fortran_order': False") else {
            throw NumpyFileError.malformed(url.path, "the array is in Fortran order; expected C order")
        }
        guard let open = text.range(of: "'shape': ("), let close = text[open.upperBound...].firstIndex(of: ")") else {
            throw NumpyFileError.malformed(url.path, "no shape in header \(text)")
        }
        let dims = text[open.upperBound..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let n = Int(d), n >= 0 else { throw NumpyFileError.malformed(url.path, "bad dimension \"\(d)\" in shape") }
            shape.append(n)
        }
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        guard bytes.count == dataStart + 8 * count else {
            throw NumpyFileError.malformed(url.path, "expected \(8 * count) data bytes for shape \(shape), found \(bytes.count - dataStart)")
        }
        var values = [Double](repeating: 0, count: count)
        for i in 0..<count {
            var bits: UInt64 = 0
            for b in 0..<8 { bits |= UInt64(bytes[dataStart + 8 * i + b]) << (8 * b) }
            values[i] = Double(bitPattern: bits)
        }
        return (shape, values)
    }
}

/// Why a .npy file could not be read (writing fails with `FileOperationError`).
public enum NumpyFileError: LocalizedError, Equatable {
    case unreadable(String)
    case malformed(String, String)

    public var errorDescription: String? {
        switch self {
        case let .unreadable(path): return "\(path): cannot read the .npy file (missing or not a regular file)."
        case let .malformed(path, what): return "\(path): not a float64 C-order .npy file: \(what)."
        }
    }
}
