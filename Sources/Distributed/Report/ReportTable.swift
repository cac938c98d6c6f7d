import Foundation

/// Mean and sample standard deviation (divisor n − 1) of a list of numbers.
public struct Statistic: Sendable, Equatable {
    public var mean: Double
    /// nil for fewer than two values.
    public var std: Double?
    public var count: Int

    public init(_ values: [Double]) {
        count = values.count
        mean = values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        if values.count >= 2 {
            let m = mean
            std = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
        } else {
            std = nil
        }
    }

    /// "m ± s" (or "m" for one value) with `digits` decimals, values multiplied by `scale`.
    public func text(digits: Int, scale: Double = 1) -> String {
        guard count > 0, mean.isFinite else { return "–" }
        let m = String(format: "%.\(digits)f", mean * scale)
        guard let std else { return m }
        return m + " ± " + String(format: "%.\(digits)f", std * scale)
    }
}

/// A table of a report, rendered as Markdown or CSV.
public struct ReportTable: Sendable {
    public enum Cell: Sendable {
        case text(String)
        /// mean ± std (CSV: two columns).
        case stat(Statistic)
        /// before → after (CSV: four columns).
        case pair(Statistic, Statistic)
        case missing
    }

    public enum Kind: Sendable { case text, stat, pair }

    public struct Column: Sendable {
        public var header: String
        /// CSV column name (stat columns get _mean/_std, pairs also _after_mean/_after_std).
        public var csvName: String
        public var kind: Kind
        /// Decimals, and a factor applied before printing (100 for percentages).
        public var digits: Int
        public var scale: Double

        public init(_ header: String, csv: String, kind: Kind = .stat, digits: Int = 2, scale: Double = 1) {
            self.header = header
            self.csvName = csv
            self.kind = kind
            self.digits = digits
            self.scale = scale
        }
    }

    /// File stem (accuracy, calibration, ...).
    public var name: String
    public var title: String
    public var note: String?
    public var columns: [Column]
    public var rows: [[Cell]]

    public func markdown() -> String {
        var lines = ["| " + columns.map(\.header).joined(separator: " | ") + " |",
                     "|" + columns.map { $0.kind == .text ? " --- |" : " ---: |" }.joined()]
        for row in rows {
            let cells = zip(columns, row).map { column, cell -> String in
                switch cell {
                case let .text(s): return s.replacingOccurrences(of: "|", with: "\\|")
                case let .stat(s): return s.text(digits: column.digits, scale: column.scale)
                case let .pair(a, b): return a.text(digits: column.digits, scale: column.scale) + " → " + b.text(digits: column.digits, scale: column.scale)
                case .missing: return "–"
                }
            }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// CSV (RFC 4180 quoting); numbers unscaled except percentages, full precision.
    public func csv() -> String {
        var header: [String] = []
        for c in columns {
            switch c.kind {
            case .text: header.append(c.csvName)
            case .stat: header += [c.csvName + "_mean", c.csvName + "_std"]
            case .pair: header += [c.csvName + "_mean", c.csvName + "_std", c.csvName + "_ts_mean", c.csvName + "_ts_std"]
            }
        }
        var lines = [header.map(Self.quote).joined(separator: ",")]
        for row in rows {
            var cells: [String] = []
            for (column, cell) in zip(columns, row) {
                func number(_ x: Double?) -> String { x.map { $0.isFinite ? "\($0 * column.scale)" : "" } ?? "" }
                switch (column.kind, cell) {
                case let (_, .text(s)): cells.append(Self.quote(s))
                case let (_, .stat(s)): cells += [number(s.mean), number(s.std)]
                case let (_, .pair(a, b)): cells += [number(a.mean), number(a.std), number(b.mean), number(b.std)]
                case (.text, .missing): cells.append("")
                case (.stat, .missing): cells += ["", ""]
                case (.pair, .missing): cells += ["", "", "", ""]
                }
            }
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
