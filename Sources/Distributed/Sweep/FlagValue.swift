import Foundation

/// The value of one `lpft-mpi train` flag in a grid file or a manifest: text, a whole number, a
/// real number, or a switch (true = the flag is given without a value, false = omitted).
///
/// Numbers are canonical so that the same setting always gives the same run id: an integral
/// real that fits `Int` (`100.0`, `1e16`) is that integer, and text that reads as a number
/// (YAML's `1e-5`, which YAML 1.1 leaves as text) is that number. So every value reads back
/// from manifest.jsonl as itself (JSON writes `.real(1e16)` as `1e+16`, which decodes as an Int).
public enum FlagValue: Hashable, Sendable, Codable, CustomStringConvertible {
    case text(String)
    case integer(Int)
    case real(Double)
    case toggle(Bool)

    /// Canonical form of a real number: integral values in `Int`'s range become integers.
    public static func number(_ x: Double) -> FlagValue {
        if let i = Int(exactly: x) { return .integer(i) }
        return .real(x)
    }

    /// Canonical form of a text value: text that reads as a finite number becomes that number.
    public static func parsing(_ text: String) -> FlagValue {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let i = Int(trimmed) { return .integer(i) }
        let decimal = trimmed.contains(where: \.isNumber) && trimmed.allSatisfy { "0123456789+-.eE".contains($0) }
        if decimal, let x = Double(trimmed), x.isFinite { return number(x) }
        return .text(text)
    }

    /// The text passed on the command line (`Double.description` is the shortest text that
    /// reads back as the same number).
    public var description: String {
        switch self {
        case let .text(s): return s
        case let .integer(i): return String(i)
        case let .real(x): return x.description
        case let .toggle(b): return b ? "true" : "false"
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) { self = .toggle(b); return }
        if let i = try? container.decode(Int.self) { self = .integer(i); return }
        if let x = try? container.decode(Double.self) { self = .number(x); return }
        self = .parsing(try container.decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .text(s): try container.encode(s)
        case let .integer(i): try container.encode(i)
        case let .real(x): try container.encode(x)
        case let .toggle(b): try container.encode(b)
        }
    }
}

/// JSON text without spaces: equal content, equal bytes.
enum CanonicalJSON {
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
}

/// FNV-1a, 64-bit: a small stable hash (no cryptographic strength needed for run ids).
public enum FNV1a64 {
    public static func hash<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return h
    }

    public static func hash(_ text: String) -> UInt64 { hash(text.utf8) }

    /// The hash as 16 lower-case hex digits.
    public static func hex(_ text: String) -> String {
        let s = String(hash(text), radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
