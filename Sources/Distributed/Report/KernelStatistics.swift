import Foundation

/// The NTK statistics a report shows, read from an `lpft-mpi ntk` kernel.json.
///
/// Two layouts are read (keys snake_case):
/// - the ntk command's: `analysis.{pte,fte,ntk}.{frobenius_train, spectrum.{rank,
///   top_eigenvalues}, kernel_regression.{train, eval}}`, `analysis.ft_ratio`,
///   `head.weight_norm`, `train.ids`;
/// - a flat subset: `analysis.{rank, frobenius: {pte, fte, ntk}, top_eigenvalues: {pte, fte,
///   ntk}, ft_ratio, kernel_accuracy: {train, eval}}`, where a single `rank` or
///   `kernel_accuracy` belongs to the full kernel (ntk); `rank` may also map kernels to ranks.
public struct KernelStatistics: Sendable, Equatable {
    /// One of the three kernels P (pte), F (fte), P + F (ntk).
    public struct Kernel: Sendable, Equatable {
        public var rank: Int?
        public var frobenius: Double?
        /// Largest eigenvalues, descending.
        public var topEigenvalues: [Double] = []
        public var kernelAccuracyTrain: Double?
        public var kernelAccuracyEval: Double?
    }

    public static let kernelNames = ["pte", "fte", "ntk"]

    public var kernels: [String: Kernel]
    public var ftRatio: Double?
    /// Train examples of the kernel (nil when kernel.json does not list them).
    public var examples: Int?
    /// ‖V‖_F of the head the kernel was computed with.
    public var headNorm: Double?

    public init(kernels: [String: Kernel], ftRatio: Double?, examples: Int?, headNorm: Double?) {
        self.kernels = kernels
        self.ftRatio = ftRatio
        self.examples = examples
        self.headNorm = headNorm
    }

    public static func load(_ url: URL) throws -> KernelStatistics {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ReportError.unreadable(path: url.path, reason: "missing or unreadable")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ReportError.unreadable(path: url.path, reason: "not a JSON object; re-run lpft-mpi ntk")
        }
        guard let analysis = root["analysis"] as? [String: Any] else {
            throw ReportError.unreadable(path: url.path, reason: "no 'analysis' (the ntk run did not finish its analysis)")
        }
        var kernels: [String: Kernel] = [:]
        for name in kernelNames {
            var kernel = Kernel()
            if let summary = analysis[name] as? [String: Any] {  // the ntk command's layout
                kernel.frobenius = number(summary["frobenius_train"])
                if let spectrum = summary["spectrum"] as? [String: Any] {
                    kernel.rank = number(spectrum["rank"]).map { Int($0) }
                    kernel.topEigenvalues = numbers(spectrum["top_eigenvalues"])
                }
                if let regression = summary["kernel_regression"] as? [String: Any] {
                    kernel.kernelAccuracyTrain = number(regression["train"])
                    kernel.kernelAccuracyEval = number(regression["eval"])
                }
            } else {  // the flat subset
                kernel.frobenius = number((analysis["frobenius"] as? [String: Any])?[name])
                kernel.topEigenvalues = numbers((analysis["top_eigenvalues"] as? [String: Any])?[name])
                if let ranks = analysis["rank"] as? [String: Any] {
                    kernel.rank = number(ranks[name]).map { Int($0) }
                } else if name == "ntk" {
                    kernel.rank = number(analysis["rank"]).map { Int($0) }
                }
                if name == "ntk", let accuracy = analysis["kernel_accuracy"] as? [String: Any] {
                    kernel.kernelAccuracyTrain = number(accuracy["train"])
                    kernel.kernelAccuracyEval = number(accuracy["eval"])
                }
            }
            kernels[name] = kernel
        }
        let examples = ((root["train"] as? [String: Any])?["ids"] as? [Any])?.count
        let headNorm = number((root["head"] as? [String: Any])?["weight_norm"])
        return KernelStatistics(kernels: kernels, ftRatio: number(analysis["ft_ratio"]), examples: examples, headNorm: headNorm)
    }

    static func number(_ value: Any?) -> Double? {
        if let n = value as? NSNumber { return n.doubleValue }
        if let s = value as? String { return Double(s) }
        return nil
    }

    static func numbers(_ value: Any?) -> [Double] {
        (value as? [Any])?.compactMap { number($0) } ?? []
    }
}
