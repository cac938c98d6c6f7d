import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if !_endian(little)
#error("The safetensors reader and writer copy little-endian tensor bytes as they are; a big-endian host is not supported.")
#endif

// safetensors layout: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
// then the data buffer; offsets are relative to its start, tensors are little-endian, C order.

/// Element types of the safetensors format.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case uint8 = "U8", int8 = "I8", uint16 = "U16", int16 = "I16"
    case uint32 = "U32", int32 = "I32", uint64 = "U64", int64 = "I64"
    case float8E4M3 = "F8_E4M3", float8E5M2 = "F8_E5M2"
    case float16 = "F16", bfloat16 = "BF16", float32 = "F32", float64 = "F64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .uint8, .int8, .float8E4M3, .float8E5M2: return 1
        case .uint16, .int16, .float16, .bfloat16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range inside the data buffer (the header's data_offsets).
    public let dataOffsets: Range<Int>
    /// Product of `shape` (1 for a scalar).
    public let elementCount: Int
}

/// A safetensors file, memory-mapped, with its header parsed and validated.
///
/// Conversions: `floats` reads F32 as is and converts F64, F16 and BF16 (exact for the two
/// half formats); `doubles` reads F64 and widens F32/F16/BF16; `int64s` reads I64 and widens the
/// smaller integer types and BOOL (U64 values above Int64.max are an error). Other pairs
/// (e.g. floats of an I64 tensor, F8 types) throw `unsupportedDType`.
public struct SafetensorsFile: Sendable {
    public let url: URL
    /// The header's "__metadata__" strings (empty when absent).
    public let metadata: [String: String]
    /// Tensor names in file order (by data offset).
    public let tensorNames: [String]

    private let bytes: Data
    /// Offset of the data buffer in the file (8 + header length).
    private let dataStart: Int
    private let tensors: [String: SafetensorsTensorInfo]

    /// Maps the file and validates its header: lengths, JSON, every tensor's dtype, shape and
    /// data_offsets (size = shape × dtype, inside the data buffer, no overlaps).
    public init(url: URL) throws {
        self.url = url
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw SafetensorsError.unreadable(url, error.localizedDescription)
        }
        guard bytes.count >= 8 else { throw SafetensorsError.fileTooShort(url, bytes.count) }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw SafetensorsError.headerBeyondFile(url, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(headerLength)
        let header = bytes.subdata(in: bytes.startIndex + 8 ..< bytes.startIndex + dataStart)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw SafetensorsError.headerNotJSON(url, error.localizedDescription)
        }
        guard let entries = parsed as? [String: Any] else { throw SafetensorsError.headerNotObject(url) }

        let dataSize = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var tensors: [String: SafetensorsTensorInfo] = [:]
        for (name, entry) in entries {
            if name == "__metadata__" {
                guard let strings = entry as? [String: String] else { throw SafetensorsError.metadataInvalid(url) }
                metadata = strings
                continue
            }
            let info = try Self.parseEntry(name: name, entry: entry, url: url)
            guard info.dataOffsets.upperBound <= dataSize else {
                throw SafetensorsError.offsetsOutsideData(url, tensor: name, offsets: info.dataOffsets, dataSize: dataSize)
            }
            tensors[name] = info
        }
        let ordered = tensors.values.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name)
                < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name)
        }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.dataOffsets.lowerBound < previous.dataOffsets.upperBound {
            throw SafetensorsError.overlappingTensors(url, previous.name, next.name)
        }
        self.bytes = bytes
        self.dataStart = dataStart
        self.metadata = metadata
        self.tensors = tensors
        self.tensorNames = ordered.map(\.name)
    }

    /// dtype, shape and byte range of tensor `name`, or nil when the file has no such tensor.
    public func info(_ name: String) -> SafetensorsTensorInfo? {
        tensors[name]
    }

    /// Tensor `name` as Float (F32 copied; F64, F16, BF16 converted).
    public func floats(_ name: String) throws -> [Float] {
        let info = try requireInfo(name)
        return try [Float](unsafeUninitializedCapacity: info.elementCount) { buffer, count in
            try copyFloats(info, into: buffer)
            count = info.elementCount
        }
    }

    /// Copies tensor `name` into `destination` (F32 copied; F64, F16, BF16 converted) after checking
    /// that its shape is `expectedShape` and that `destination` holds exactly that many floats.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>, expectedShape: [Int]) throws {
        let info = try requireInfo(name)
        guard info.shape == expectedShape else {
            throw SafetensorsError.shapeMismatch(url, tensor: name, expected: expectedShape, found: info.shape)
        }
        guard destination.count == info.elementCount else {
            throw SafetensorsError.destinationSizeMismatch(url, tensor: name, elements: info.elementCount,
                                                           destination: destination.count)
        }
        try copyFloats(info, into: destination)
    }

    /// The bytes of tensor `name` as stored (little-endian elements of its dtype): a tensor is
    /// carried into another file unchanged by writing them back as `.raw(info.dtype, bytes)`.
    public func rawBytes(_ name: String) throws -> Data {
        try withTensorBytes(try requireInfo(name)) { Data($0) }
    }

    /// Tensor `name` as Double (F64 copied; F32, F16, BF16 widened).
    public func doubles(_ name: String) throws -> [Double] {
        let info = try requireInfo(name)
        return try withTensorBytes(info) { raw in
            switch info.dtype {
            case .float64: return (0..<info.elementCount).map { Double(bitPattern: raw.loadLittleEndian(UInt64.self, $0)) }
            case .float32: return (0..<info.elementCount).map { Double(Float(bitPattern: raw.loadLittleEndian(UInt32.self, $0))) }
            case .float16: return (0..<info.elementCount).map { Double(floatFromHalf(raw.loadLittleEndian(UInt16.self, $0))) }
            case .bfloat16: return (0..<info.elementCount).map { Double(floatFromBFloat16(raw.loadLittleEndian(UInt16.self, $0))) }
            default: throw SafetensorsError.unsupportedDType(url, tensor: info.name, dtype: info.dtype, wanted: "Double")
            }
        }
    }

    /// Tensor `name` as Int64 (I64 copied; I32, I16, I8, U32, U16, U8, BOOL widened; U64 checked).
    public func int64s(_ name: String) throws -> [Int64] {
        let info = try requireInfo(name)
        return try withTensorBytes(info) { raw in
            let count = info.elementCount
            switch info.dtype {
            case .int64: return (0..<count).map { Int64(bitPattern: raw.loadLittleEndian(UInt64.self, $0)) }
            case .int32: return (0..<count).map { Int64(Int32(bitPattern: raw.loadLittleEndian(UInt32.self, $0))) }
            case .int16: return (0..<count).map { Int64(Int16(bitPattern: raw.loadLittleEndian(UInt16.self, $0))) }
            case .int8: return (0..<count).map { Int64(Int8(bitPattern: raw[$0])) }
            case .uint32: return (0..<count).map { Int64(raw.loadLittleEndian(UInt32.self, $0)) }
            case .uint16: return (0..<count).map { Int64(raw.loadLittleEndian(UInt16.self, $0)) }
            case .uint8, .bool: return (0..<count).map { Int64(raw[$0]) }
            case .uint64:
                return try (0..<count).map {
                    let value = raw.loadLittleEndian(UInt64.self, $0)
                    guard let exact = Int64(exactly: value) else {
                        throw SafetensorsError.valueOutOfRange(url, tensor: info.name, index: $0, value: "\(value)")
                    }
                    return exact
                }
            default: throw SafetensorsError.unsupportedDType(url, tensor: info.name, dtype: info.dtype, wanted: "Int64")
            }
        }
    }

    // MARK: Helpers

    private func requireInfo(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensors[name] else {
            throw SafetensorsError.tensorNotFound(url, tensor: name, available: tensorNames)
        }
        return info
    }

    /// Runs `body` on the tensor's bytes inside the mapped file.
    private func withTensorBytes<Result>(_ info: SafetensorsTensorInfo,
                                         _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        try bytes.withUnsafeBytes { file in
            try body(UnsafeRawBufferPointer(rebasing: file[dataStart + info.dataOffsets.lowerBound ..< dataStart + info.dataOffsets.upperBound]))
        }
    }

    private func copyFloats(_ info: SafetensorsTensorInfo, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try withTensorBytes(info) { raw in
            switch info.dtype {
            case .float32:
                // Unaligned-safe byte copy; the file is little-endian like the host.
                if let output = destination.baseAddress, let input = raw.baseAddress {
                    UnsafeMutableRawPointer(output).copyMemory(from: input, byteCount: raw.count)
                }
            case .float64:
                for index in 0..<info.elementCount {
                    destination[index] = Float(Double(bitPattern: raw.loadLittleEndian(UInt64.self, index)))
                }
            case .float16:
                for index in 0..<info.elementCount { destination[index] = floatFromHalf(raw.loadLittleEndian(UInt16.self, index)) }
            case .bfloat16:
                for index in 0..<info.elementCount { destination[index] = floatFromBFloat16(raw.loadLittleEndian(UInt16.self, index)) }
            default:
                throw SafetensorsError.unsupportedDType(url, tensor: info.name, dtype: info.dtype, wanted: "Float")
            }
        }
    }

    /// Validates one header entry {"dtype", "shape", "data_offsets"}.
    private static func parseEntry(name: String, entry: Any, url: URL) throws -> SafetensorsTensorInfo {
        guard let fields = entry as? [String: Any] else {
            throw SafetensorsError.entryInvalid(url, tensor: name, "expected an object with dtype, shape and data_offsets")
        }
        guard let dtypeName = fields["dtype"] else { throw SafetensorsError.fieldMissing(url, tensor: name, field: "dtype") }
        guard let dtypeString = dtypeName as? String, let dtype = SafetensorsDType(rawValue: dtypeString) else {
            throw SafetensorsError.unknownDType(url, tensor: name, dtype: "\(dtypeName)")
        }
        guard let shapeValue = fields["shape"] else { throw SafetensorsError.fieldMissing(url, tensor: name, field: "shape") }
        guard let shape = nonNegativeIntegers(shapeValue) else {
            throw SafetensorsError.entryInvalid(url, tensor: name, "shape must be a list of non-negative integers, found \(shapeValue)")
        }
        guard let offsetsValue = fields["data_offsets"] else {
            throw SafetensorsError.fieldMissing(url, tensor: name, field: "data_offsets")
        }
        guard let offsets = nonNegativeIntegers(offsetsValue), offsets.count == 2, offsets[0] <= offsets[1] else {
            throw SafetensorsError.entryInvalid(url, tensor: name, "data_offsets must be [begin, end] with 0 ≤ begin ≤ end, found \(offsetsValue)")
        }
        var elementCount = 1
        for dimension in shape {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw SafetensorsError.entryInvalid(url, tensor: name, "shape \(shape) is too large") }
            elementCount = product
        }
        let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, byteCount == offsets[1] - offsets[0] else {
            throw SafetensorsError.sizeMismatch(url, tensor: name, shape: shape, dtype: dtype, offsets: offsets[0]..<offsets[1])
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: offsets[0]..<offsets[1],
                                     elementCount: elementCount)
    }

    private static func nonNegativeIntegers(_ value: Any) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var integers: [Int] = []
        for item in list {
            guard let integer = item as? Int, integer >= 0 else { return nil }  // nil for fractions and strings
            integers.append(integer)
        }
        return integers
    }
}

/// Writes safetensors files (tensors in the given order, header keys sorted, header padded with
/// spaces so the data buffer starts 8-byte aligned). The file appears atomically: it is written
/// to a temporary file in the same folder, flushed to disk, then renamed over `url`.
public enum SafetensorsWriter {
    /// Values of one tensor to write.
    public enum Values: Sendable {
        case float32([Float])
        case float64([Double])
        case int64([Int64])
        /// Little-endian element bytes of any dtype, written as they are (a tensor carried over
        /// from another file byte for byte, or values encoded by `encoding(_:as:)`).
        case raw(SafetensorsDType, Data)

        var dtype: SafetensorsDType {
            switch self {
            case .float32: return .float32
            case .float64: return .float64
            case .int64: return .int64
            case .raw(let dtype, _): return dtype
            }
        }

        /// Elements (for .raw: whole elements in the bytes; a partial one is rejected on write).
        var count: Int {
            switch self {
            case .float32(let values): return values.count
            case .float64(let values): return values.count
            case .int64(let values): return values.count
            case .raw(let dtype, let bytes): return bytes.count / dtype.size
            }
        }

        func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
            switch self {
            case .float32(let values): return try values.withUnsafeBytes(body)
            case .float64(let values): return try values.withUnsafeBytes(body)
            case .int64(let values): return try values.withUnsafeBytes(body)
            case .raw(_, let bytes): return try bytes.withUnsafeBytes(body)
            }
        }

        /// `values` stored as `dtype`: F32 as they are, F64 widened (exact), F16 and BF16 rounded
        /// to nearest, ties to even (as torch's `.half()` / `.bfloat16()`). Other dtypes are not
        /// float formats: nil.
        public static func encoding(_ values: [Float], as dtype: SafetensorsDType) -> Values? {
            switch dtype {
            case .float32: return .float32(values)
            case .float64: return .float64(values.map(Double.init))
            case .float16: return .raw(.float16, halfBytes(values, halfBits))
            case .bfloat16: return .raw(.bfloat16, halfBytes(values, bfloat16Bits))
            default: return nil
            }
        }

        private static func halfBytes(_ values: [Float], _ convert: (Float) -> UInt16) -> Data {
            var bits = values.map { convert($0).littleEndian }
            return Data(bytes: &bits, count: bits.count * 2)
        }
    }

    /// One named tensor: `values` in C order, `shape` with product = values count.
    public struct Tensor: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: Values

        public init(name: String, shape: [Int], values: Values) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Writes F32 tensors.
    public static func write(_ tensors: [(name: String, shape: [Int], values: [Float])], to url: URL,
                             metadata: [String: String] = [:]) throws {
        try write(tensors.map { Tensor(name: $0.name, shape: $0.shape, values: .float32($0.values)) }, to: url, metadata: metadata)
    }

    /// Writes tensors of any supported dtype (F32, F64, I64).
    public static func write(_ tensors: [Tensor], to url: URL, metadata: [String: String] = [:]) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for tensor in tensors {
            guard tensor.name != "__metadata__", header[tensor.name] == nil else {
                throw SafetensorsError.writeInvalid(url, tensor: tensor.name, "the name is repeated or reserved")
            }
            if case .raw(let dtype, let bytes) = tensor.values, bytes.count % dtype.size != 0 {
                throw SafetensorsError.writeInvalid(url, tensor: tensor.name,
                                                    "\(bytes.count) bytes are not whole \(dtype.rawValue) elements")
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.shape.reduce(1, *) == tensor.values.count else {
                throw SafetensorsError.writeInvalid(url, tensor: tensor.name,
                                                    "shape \(tensor.shape) does not match \(tensor.values.count) values")
            }
            let byteCount = tensor.values.count * tensor.values.dtype.size
            header[tensor.name] = ["dtype": tensor.values.dtype.rawValue, "shape": tensor.shape,
                                   "data_offsets": [offset, offset + byteCount]] as [String: Any]
            offset += byteCount
        }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        headerBytes.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8))
        var lengthPrefix = Data(count: 8)
        lengthPrefix.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(headerBytes.count).littleEndian, as: UInt64.self) }

        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0 ... .max)).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw SafetensorsError.writeFailed(url, "cannot create \(temporary.path) (does the folder exist and is it writable?)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: lengthPrefix)
            try handle.write(contentsOf: headerBytes)
            for tensor in tensors {
                try tensor.values.withUnsafeBytes { raw in
                    guard let base = raw.baseAddress, raw.count > 0 else { return }
                    try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: raw.count,
                                                      deallocator: .none))
                }
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError.writeFailed(url, FileOperationError.reason(of: error))
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError.writeFailed(url, "cannot rename the temporary file into place: \(reason)")
        }
    }
}

/// Errors reading or writing safetensors files; each names the file and, where relevant, the tensor.
public enum SafetensorsError: LocalizedError, Equatable {
    case unreadable(URL, String)
    case fileTooShort(URL, Int)
    case headerBeyondFile(URL, headerLength: UInt64, fileSize: Int)
    case headerNotJSON(URL, String)
    case headerNotObject(URL)
    case metadataInvalid(URL)
    case entryInvalid(URL, tensor: String, String)
    case fieldMissing(URL, tensor: String, field: String)
    case unknownDType(URL, tensor: String, dtype: String)
    case sizeMismatch(URL, tensor: String, shape: [Int], dtype: SafetensorsDType, offsets: Range<Int>)
    case offsetsOutsideData(URL, tensor: String, offsets: Range<Int>, dataSize: Int)
    case overlappingTensors(URL, String, String)
    case tensorNotFound(URL, tensor: String, available: [String])
    case shapeMismatch(URL, tensor: String, expected: [Int], found: [Int])
    case destinationSizeMismatch(URL, tensor: String, elements: Int, destination: Int)
    case unsupportedDType(URL, tensor: String, dtype: SafetensorsDType, wanted: String)
    case valueOutOfRange(URL, tensor: String, index: Int, value: String)
    case writeInvalid(URL, tensor: String, String)
    case writeFailed(URL, String)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let url, let reason):
            return "Cannot read safetensors file \(url.path): \(reason)."
        case .fileTooShort(let url, let size):
            return "Safetensors file \(url.path) has \(size) bytes, fewer than the 8-byte header length; the file is truncated or not safetensors."
        case .headerBeyondFile(let url, let headerLength, let fileSize):
            return "Safetensors file \(url.path) declares a \(headerLength)-byte header but has only \(fileSize) bytes; the file is truncated or not safetensors."
        case .headerNotJSON(let url, let reason):
            return "Safetensors file \(url.path): the header is not valid JSON (\(reason)); the file is corrupt or not safetensors."
        case .headerNotObject(let url):
            return "Safetensors file \(url.path): the header must be a JSON object of tensor entries."
        case .metadataInvalid(let url):
            return "Safetensors file \(url.path): \"__metadata__\" must map strings to strings."
        case .entryInvalid(let url, let tensor, let reason):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": \(reason)."
        case .fieldMissing(let url, let tensor, let field):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": the header entry has no \"\(field)\"."
        case .unknownDType(let url, let tensor, let dtype):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": unknown dtype \(dtype); expected one of "
                + SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ") + "."
        case .sizeMismatch(let url, let tensor, let shape, let dtype, let offsets):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": shape \(shape) of \(dtype.rawValue) needs "
                + "\(shape.reduce(1, *) * dtype.size) bytes but data_offsets [\(offsets.lowerBound), \(offsets.upperBound)] span \(offsets.count)."
        case .offsetsOutsideData(let url, let tensor, let offsets, let dataSize):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": data_offsets [\(offsets.lowerBound), \(offsets.upperBound)] "
                + "reach past the \(dataSize)-byte data buffer; the file is truncated or corrupt."
        case .overlappingTensors(let url, let first, let second):
            return "Safetensors file \(url.path): tensors \"\(first)\" and \"\(second)\" overlap in the data buffer; the file is corrupt."
        case .tensorNotFound(let url, let tensor, let available):
            let sample = available.prefix(8).joined(separator: ", ") + (available.count > 8 ? ", …" : "")
            return "Safetensors file \(url.path) has no tensor \"\(tensor)\" (it has \(available.count): \(sample)); "
                + "check that the model family matches the file."
        case .shapeMismatch(let url, let tensor, let expected, let found):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": expected shape \(expected), found \(found); "
                + "check that config.json matches the weights."
        case .destinationSizeMismatch(let url, let tensor, let elements, let destination):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": \(elements) values do not fit a destination of \(destination)."
        case .unsupportedDType(let url, let tensor, let dtype, let wanted):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": dtype \(dtype.rawValue) cannot be read as \(wanted)."
        case .valueOutOfRange(let url, let tensor, let index, let value):
            return "Safetensors file \(url.path), tensor \"\(tensor)\": value \(value) at index \(index) does not fit Int64."
        case .writeInvalid(let url, let tensor, let reason):
            return "Cannot write safetensors file \(url.path), tensor \"\(tensor)\": \(reason)."
        case .writeFailed(let url, let reason):
            return "Cannot write safetensors file \(url.path): \(reason)."
        }
    }
}

// MARK: Element decoding

extension UnsafeRawBufferPointer {
    /// Element `index` of a packed little-endian array of `T`, at any alignment.
    @inline(__always)
    fileprivate func loadLittleEndian<T: FixedWidthInteger>(_ type: T.Type, _ index: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
    }
}

/// IEEE 754 half precision → Float (exact; subnormals, infinities and NaN kept).
@inline(__always)
private func floatFromHalf(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F)
    let fraction = Float(bits & 0x3FF)
    switch exponent {
    case 0: return sign * fraction * 0x1p-24                       // zero and subnormals
    case 31: return fraction == 0 ? sign * .infinity : .nan
    default: return sign * (1 + fraction * 0x1p-10) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}

// MARK: Element encoding

/// Float → IEEE 754 half precision, rounded to nearest with ties to even; overflow gives ±∞,
/// tiny values become subnormals or ±0, NaN stays a (quiet) NaN.
func halfBits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    let mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x0200 : 0) }
    let halfExponent = exponent - 127 + 15
    if halfExponent >= 0x1F { return sign | 0x7C00 }
    // The float's significand (with its hidden bit) shifted so that its unit is the last half
    // bit kept: 13 bits drop for a normal half, more for a subnormal one.
    let significand = exponent == 0 ? mantissa : mantissa | 0x80_0000
    let shift = halfExponent > 0 ? 13 : 14 - halfExponent
    guard shift < 25 else { return sign }  // below half the smallest subnormal: ±0
    var kept = significand >> UInt32(shift)
    let dropped = significand & ((1 << UInt32(shift)) - 1), halfway = UInt32(1) << UInt32(shift - 1)
    if dropped > halfway || (dropped == halfway && kept & 1 == 1) { kept += 1 }
    // Normal: exponent field + mantissa without the hidden bit; a rounding carry (kept = 0x800)
    // moves into the exponent, up to ∞. Subnormal: kept is the field (0x400 = smallest normal).
    let magnitude = halfExponent > 0 ? (UInt32(halfExponent) << 10) + kept - 0x400 : kept
    return sign | UInt16(truncatingIfNeeded: magnitude)
}

/// Float → bfloat16 (the upper 16 bits), rounded to nearest with ties to even; NaN stays NaN.
func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: rounded >> 16)
}

/// bfloat16 → Float: the upper 16 bits of a Float.
@inline(__always)
private func floatFromBFloat16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}
