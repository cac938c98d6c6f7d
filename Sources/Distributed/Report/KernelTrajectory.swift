import Foundation
import Model

/// The eNTK of a run followed through training (`train --ntk-every-epoch`: OUT/ntk/epoch-K):
/// per epoch K, the kernel distance from the start d(K₀, K_K), the kernel–label alignment of
/// K_K and the FT ratio (KernelComparison; P + F over the same fixed training examples).
public struct KernelTrajectory: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        public var epoch: Int
        public var distance: Double?
        public var alignment: Double?
        public var ftRatio: Double?
    }

    public var points: [Point]

    /// Reads OUT/ntk/epoch-*/ (ntk.npy and kernel.json); nil when the run has no epoch-0 kernel
    /// or an epoch's ntk.npy is missing.
    public static func load(run directory: URL) throws -> KernelTrajectory? {
        let root = directory.appendingPathComponent("ntk")
        let epochs = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [])
            .compactMap { $0.hasPrefix("epoch-") ? Int($0.dropFirst(6)) : nil }.sorted()
        guard epochs.first == 0 else { return nil }
        var start: [Double]?
        var points: [Point] = []
        for epoch in epochs {
            let folder = root.appendingPathComponent("epoch-\(epoch)")
            let jsonURL = folder.appendingPathComponent("kernel.json")
            guard let data = FileManager.default.contents(atPath: jsonURL.path) else { continue }  // being computed
            guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let classes = json["classes"] as? Int,
                  let labels = (json["train"] as? [String: Any])?["labels"] as? [Int] else {
                throw ReportError.unreadable(path: jsonURL.path, reason: "no classes or train labels; was it written by lpft-mpi ntk?")
            }
            let kernelURL = folder.appendingPathComponent("ntk.npy")
            // A saved copy may keep kernel.json without a large ntk.npy (scripts/save-results.sh):
            // then there is no trajectory, while kernel.json's statistics still count.
            guard FileManager.default.fileExists(atPath: kernelURL.path) else { return nil }
            let kernel = try NumpyFile.read(kernelURL).values
            guard kernel.count == labels.count * classes * labels.count * classes else {
                throw ReportError.unreadable(path: folder.path, reason: "ntk.npy does not match the \(labels.count) examples × \(classes) classes of kernel.json")
            }
            if start == nil { start = kernel }
            guard let k0 = start, k0.count == kernel.count else {
                throw ReportError.unreadable(path: folder.path, reason: "the kernel's size differs from epoch 0's")
            }
            let ftRatio = KernelStatistics.number((json["analysis"] as? [String: Any])?["ft_ratio"])
            points.append(Point(epoch: epoch, distance: KernelComparison.distance(k0, kernel),
                                alignment: KernelComparison.labelAlignment(kernel, labels: labels, classes: classes), ftRatio: ftRatio))
        }
        return KernelTrajectory(points: points)
    }
}
