import Foundation

/// A setting (a command-line flag, a grid parameter, a value in a settings struct) outside the
/// values the program can use. Its message names the setting, the value, what is expected, and
/// what to do.
public struct InvalidSetting: Error, LocalizedError, Equatable {
    /// The setting as the user wrote it, e.g. "--epochs".
    public var name: String
    public var value: String
    /// What would be valid, e.g. "a whole number from 1 to 100000".
    public var expected: String
    /// What to do instead, when more than "choose a valid value" helps.
    public var hint: String?

    public init(_ name: String, value: String, expected: String, hint: String? = nil) {
        self.name = name
        self.value = value
        self.expected = expected
        self.hint = hint
    }

    public var errorDescription: String? {
        "\(name) \(value.isEmpty ? "(empty)" : value) is not valid: expected \(expected)" + (hint.map { "; \($0)" } ?? "")
    }
}

/// Range checks for settings, shared by every command: each says the range in its message.
/// Floating-point settings must be finite (NaN compares false with everything, so a plain
/// `x < 0` check would let it through).
public enum Check {
    /// `value` must lie in `range`.
    public static func integer(_ name: String, _ value: Int, in range: ClosedRange<Int>, hint: String? = nil) throws {
        guard range.contains(value) else {
            throw InvalidSetting(name, value: String(value), expected: "a whole number \(describe(range))", hint: hint)
        }
    }

    /// `value` must be finite and lie in `range`; `openBelow` excludes the lower end (e.g. a
    /// learning rate must be > 0), `openAbove` the upper end (a dropout probability < 1).
    public static func real(_ name: String, _ value: Double, in range: ClosedRange<Double>, openBelow: Bool = false,
                            openAbove: Bool = false, hint: String? = nil) throws {
        let above = openBelow ? value > range.lowerBound : value >= range.lowerBound
        let below = openAbove ? value < range.upperBound : value <= range.upperBound
        guard value.isFinite, above, below else {
            let low = openBelow ? "greater than \(format(range.lowerBound))" : "at least \(format(range.lowerBound))"
            let high = openAbove ? "less than \(format(range.upperBound))" : "at most \(format(range.upperBound))"
            throw InvalidSetting(name, value: String(value), expected: "a finite number \(low) and \(high)", hint: hint)
        }
    }

    /// `text` must not be empty (paths, names).
    public static func nonEmpty(_ name: String, _ text: String, expected: String) throws {
        guard !text.isEmpty else { throw InvalidSetting(name, value: "", expected: expected) }
    }

    /// The product of counts, or an error naming what the product counts when it overflows or
    /// exceeds `limit` (derived counts such as epochs × steps per epoch).
    public static func product(_ factors: [Int], limit: Int = Int.max, what: String, hint: String) throws -> Int {
        var result = 1
        for factor in factors {
            let (next, overflow) = result.multipliedReportingOverflow(by: factor)
            guard !overflow, next <= limit else {
                throw InvalidSetting(what, value: factors.map(String.init).joined(separator: " × "),
                                     expected: "at most \(limit)", hint: hint)
            }
            result = next
        }
        return result
    }

    static func describe(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "≥ \(range.lowerBound)" }
        return "from \(range.lowerBound) to \(range.upperBound)"
    }

    static func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}
