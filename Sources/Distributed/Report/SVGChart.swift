import Foundation

/// A small hand-written SVG chart: axes with ticks, lines, markers and bars, a legend.
/// Every plotted point carries its data values (`data-series`, `data-x`, `data-y`) so the
/// figure can be checked, or re-read, without measuring pixels.
public struct SVGChart: Sendable {
    public enum Scale: Sendable { case linear, log }

    public enum Style: Sendable {
        /// Points joined by a line, with markers.
        case line
        /// Markers only.
        case scatter
        /// Vertical bars of the given width (in data units) centred on x, from 0 to y.
        case bars(width: Double)
    }

    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var style: Style
        public var color: String
        public var dashed: Bool

        public init(name: String, points: [(x: Double, y: Double)], style: Style = .line, color: String, dashed: Bool = false) {
            self.name = name
            self.points = points
            self.style = style
            self.color = color
            self.dashed = dashed
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xScale: Scale = .linear
    public var yScale: Scale = .linear
    public var xRange: ClosedRange<Double>?
    public var yRange: ClosedRange<Double>?
    /// Draws y = x (reliability diagrams).
    public var diagonal = false
    public var series: [Series] = []
    public var width = 560.0
    public var height = 380.0

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    /// Colours of the methods, in TrainingMethod order (a colour-blind-safe palette).
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

    // Plot area inside the chart.
    private var left: Double { 70 }
    private var right: Double { width - 150 }
    private var top: Double { 40 }
    private var bottom: Double { height - 55 }

    /// The chart as a standalone SVG document.
    public func document() -> String {
        SVGChart.figure([self], columns: 1)
    }

    /// Charts side by side (`columns` per row) in one SVG document.
    public static func figure(_ charts: [SVGChart], columns: Int) -> String {
        let columns = max(1, min(columns, charts.count))
        let rows = (charts.count + columns - 1) / columns
        let cellWidth = charts.map(\.width).max() ?? 560, cellHeight = charts.map(\.height).max() ?? 380
        var out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(cellWidth * Double(columns)))\" height=\"\(f(cellHeight * Double(rows)))\" "
                   + "viewBox=\"0 0 \(f(cellWidth * Double(columns))) \(f(cellHeight * Double(rows)))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">",
                   "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>"]
        for (index, chart) in charts.enumerated() {
            let x = Double(index % columns) * cellWidth, y = Double(index / columns) * cellHeight
            out.append("<g class=\"chart\" transform=\"translate(\(f(x)),\(f(y)))\">")
            out += chart.body()
            out.append("</g>")
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// The data range of one axis, padded; log axes use positive values only.
    private func range(_ values: [Double], scale: Scale, fixed: ClosedRange<Double>?, includeZero: Bool) -> ClosedRange<Double> {
        if let fixed { return fixed }
        var finite = values.filter { $0.isFinite && (scale == .linear || $0 > 0) }
        if includeZero && scale == .linear { finite.append(0) }
        guard var low = finite.min(), var high = finite.max() else { return scale == .log ? 1...10 : 0...1 }
        switch scale {
        case .linear:
            if low == high { low -= max(abs(low) * 0.1, 0.5); high += max(abs(high) * 0.1, 0.5) }
            let pad = (high - low) * 0.05
            return (low - (includeZero && low == 0 ? 0 : pad))...(high + pad)
        case .log:
            low = pow(10, floor(log10(low)))
            high = pow(10, ceil(log10(high)))
            if low == high { high *= 10 }
            return low...high
        }
    }

    private func position(_ value: Double, _ range: ClosedRange<Double>, _ scale: Scale, from a: Double, to b: Double) -> Double {
        let t: Double
        switch scale {
        case .linear: t = (value - range.lowerBound) / (range.upperBound - range.lowerBound)
        case .log: t = (log10(value) - log10(range.lowerBound)) / (log10(range.upperBound) - log10(range.lowerBound))
        }
        return a + t * (b - a)
    }

    /// Tick positions: 1-2-5 steps for linear axes, powers of ten for log axes.
    static func ticks(_ range: ClosedRange<Double>, scale: Scale) -> [Double] {
        switch scale {
        case .linear:
            let span = range.upperBound - range.lowerBound
            guard span > 0, span.isFinite else { return [range.lowerBound] }
            let raw = span / 5, magnitude = pow(10, floor(log10(raw)))
            let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
            var ticks: [Double] = []
            var t = (range.lowerBound / step).rounded(.up) * step
            while t <= range.upperBound + step * 1e-9 { ticks.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
            return ticks
        case .log:
            let low = Int(floor(log10(range.lowerBound) + 1e-9)), high = Int(ceil(log10(range.upperBound) - 1e-9))
            let every = max(1, (high - low + 7) / 8)
            return stride(from: low, through: high, by: every).map { pow(10, Double($0)) }
        }
    }

    static func tickLabel(_ value: Double, scale: Scale) -> String {
        if scale == .log {
            let exponent = Int(log10(value).rounded())
            return (-2...3).contains(exponent) ? String(format: "%g", value) : "1e\(exponent)"
        }
        return String(format: "%g", (value * 1e6).rounded() / 1e6)
    }

    private func body() -> [String] {
        var out: [String] = []
        let xs = series.flatMap { s -> [Double] in
            if case let .bars(w) = s.style { return s.points.flatMap { [$0.x - w / 2, $0.x + w / 2] } }
            return s.points.map(\.x)
        }
        let hasBars = series.contains { if case .bars = $0.style { return true } else { return false } }
        let xRange = range(xs, scale: xScale, fixed: self.xRange, includeZero: false)
        let yRange = range(series.flatMap { $0.points.map(\.y) }, scale: yScale, fixed: self.yRange, includeZero: hasBars)
        func px(_ x: Double) -> Double { position(x, xRange, xScale, from: left, to: right) }
        func py(_ y: Double) -> Double { position(y, yRange, yScale, from: bottom, to: top) }
        func visible(_ p: (x: Double, y: Double)) -> Bool {
            p.x.isFinite && p.y.isFinite && (xScale == .linear || p.x > 0) && (yScale == .linear || p.y > 0)
        }

        out.append("<text class=\"title\" x=\"\(f((left + right) / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(xml(title))</text>")
        out.append("<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#444\"/>")
        for t in Self.ticks(xRange, scale: xScale) {
            let x = px(t)
            out.append("<line x1=\"\(f(x))\" y1=\"\(f(bottom))\" x2=\"\(f(x))\" y2=\"\(f(top))\" stroke=\"#ddd\"/>")
            out.append("<text x=\"\(f(x))\" y=\"\(f(bottom + 16))\" text-anchor=\"middle\">\(xml(Self.tickLabel(t, scale: xScale)))</text>")
        }
        for t in Self.ticks(yRange, scale: yScale) {
            let y = py(t)
            out.append("<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(right))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>")
            out.append("<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(xml(Self.tickLabel(t, scale: yScale)))</text>")
        }
        out.append("<text x=\"\(f((left + right) / 2))\" y=\"\(f(height - 15))\" text-anchor=\"middle\">\(xml(xLabel))</text>")
        out.append("<text transform=\"translate(18,\(f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">\(xml(yLabel))</text>")
        if diagonal {
            let low = max(xRange.lowerBound, yRange.lowerBound), high = min(xRange.upperBound, yRange.upperBound)
            out.append("<line class=\"diagonal\" x1=\"\(f(px(low)))\" y1=\"\(f(py(low)))\" x2=\"\(f(px(high)))\" y2=\"\(f(py(high)))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>")
        }
        for s in series {
            let name = xml(s.name)
            out.append("<g class=\"series\" data-series=\"\(name)\">")
            let points = s.points.filter(visible)
            switch s.style {
            case .line, .scatter:
                if case .line = s.style, points.count > 1 {
                    let coordinates = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                    out.append("<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>")
                }
                for p in points {
                    out.append("<circle data-series=\"\(name)\" data-x=\"\(p.x)\" data-y=\"\(p.y)\" cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3.5\" fill=\"\(s.color)\"/>")
                }
            case let .bars(width):
                for p in points {
                    let x0 = px(p.x - width / 2), x1 = px(p.x + width / 2)
                    let base = py(yScale == .log ? yRange.lowerBound : max(yRange.lowerBound, 0)), y = py(p.y)
                    out.append("<rect data-series=\"\(name)\" data-x=\"\(p.x)\" data-y=\"\(p.y)\" x=\"\(f(min(x0, x1)))\" y=\"\(f(min(y, base)))\" "
                               + "width=\"\(f(abs(x1 - x0)))\" height=\"\(f(abs(base - y)))\" fill=\"\(s.color)\" fill-opacity=\"0.75\" stroke=\"\(s.color)\"/>")
                }
            }
            out.append("</g>")
        }
        // Legend, right of the plot area.
        for (index, s) in series.enumerated() {
            let y = top + 10 + Double(index) * 18
            out.append("<rect x=\"\(f(right + 12))\" y=\"\(f(y - 9))\" width=\"14\" height=\"10\" fill=\"\(s.color)\"/>")
            out.append("<text class=\"legend\" x=\"\(f(right + 32))\" y=\"\(f(y))\">\(xml(s.name))</text>")
        }
        return out
    }

    /// A coordinate with two decimals.
    private static func f(_ x: Double) -> String { String(format: "%.2f", x) }
    private func f(_ x: Double) -> String { Self.f(x) }

    /// Text escaped for XML.
    static func xml(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
    private func xml(_ text: String) -> String { Self.xml(text) }
}
