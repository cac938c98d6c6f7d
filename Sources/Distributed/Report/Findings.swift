import Foundation

extension SweepReport {
    /// One line per finding of the paper (../shared/paper/PAPER.md) and task: whether these
    /// runs show it, with the numbers (means over seeds) that decide it. A finding whose runs
    /// are missing says so instead of guessing.
    public func findings() -> [String] {
        var lines: [String] = []
        let tasks = groups.map(\.task).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for task in tasks {
            func group(_ method: TrainingMethod) -> Group? {
                groups.first { $0.task == task && $0.method == method.rawValue && $0.variant.isEmpty }
                    ?? groups.first { $0.task == task && $0.method == method.rawValue }
            }
            func mean(_ method: TrainingMethod, _ value: (RunResult) -> Double?) -> Double? {
                guard let g = group(method) else { return nil }
                let s = g.statistic(value)
                return s.count > 0 && s.mean.isFinite ? s.mean : nil
            }
            func line(_ claim: String, _ verdict: Bool?, _ numbers: String) {
                let mark = verdict.map { $0 ? "holds" : "does NOT hold" } ?? "not measured"
                lines.append("\(task): \(claim): \(mark)\(numbers.isEmpty ? "" : " (\(numbers))")")
            }
            let f2 = { (x: Double) in String(format: "%.2f", x) }
            let pct = { (x: Double) in String(format: "%.1f%%", 100 * x) }

            // 1. LP grows the head norm many times over (the paper: 14–166×).
            let lpMethod: TrainingMethod = group(.lpFT) != nil ? .lpFT : .lp
            if let start = mean(lpMethod, { $0.metrics.head_norm.`init` }),
               let afterLP = mean(lpMethod, { $0.metrics.head_norm.after_lp ?? ($0.method == "lp" ? $0.metrics.head_norm.final : nil) }) {
                line("LP grows the head norm many times (≥ 3×)", afterLP >= 3 * start,
                     "\(lpMethod.rawValue): \(f2(start)) → \(f2(afterLP)), \(String(format: "%.1f", afterLP / start))×")
            } else { line("LP grows the head norm many times (≥ 3×)", nil, "") }

            // 2. LP-FT changes the features less than FT; LP-LoRA less than LoRA.
            for (lp, plain) in [(TrainingMethod.lpFT, TrainingMethod.ft), (.lpLoRA, .lora)] {
                let claim = "\(lp.rawValue) changes the features less than \(plain.rawValue)"
                if let a = mean(lp, { $0.metrics.features.diff }), let b = mean(plain, { $0.metrics.features.diff }) {
                    line(claim, a < b, "Diff(F) \(f2(a)) vs \(f2(b))")
                } else { line(claim, nil, "") }
            }

            // 3. The FT-effective share of the kernel is near 1 after LP and small for FT.
            if let a = mean(.lpFT, { $0.kernel?.ftRatio }), let b = mean(.ft, { $0.kernel?.ftRatio }) {
                line("the FT ratio of the kernel is larger after LP (lp-ft) than for ft", a > b, "FT ratio \(f2(a)) vs \(f2(b))")
            } else { line("the FT ratio of the kernel is larger after LP (lp-ft) than for ft", nil, "") }

            // 4. Temperature scaling lowers LP-FT's ECE.
            if let before = mean(.lpFT, { $0.metrics.eval["test"]?.ece }), let after = mean(.lpFT, { $0.metrics.eval["test"]?.ece_ts }) {
                line("temperature scaling lowers lp-ft's test ECE", after < before, "\(pct(before)) → \(pct(after))")
            } else { line("temperature scaling lowers lp-ft's test ECE", nil, "") }

            // 5. LP-FT is at least as accurate as FT out of distribution (mean over the OOD sets).
            let oodSets = Set(groups.filter { $0.task == task }.flatMap { $0.runs.flatMap { $0.metrics.eval.keys } })
                .subtracting(["validation", "test"]).sorted()
            func oodAccuracy(_ run: RunResult) -> Double? {
                let values = oodSets.compactMap { run.metrics.eval[$0]?.accuracy }
                return values.count == oodSets.count && !values.isEmpty ? values.reduce(0, +) / Double(values.count) : nil
            }
            if !oodSets.isEmpty {
                if let a = mean(.lpFT, oodAccuracy), let b = mean(.ft, oodAccuracy) {
                    line("lp-ft ≥ ft out of distribution", a >= b, "mean OOD accuracy over \(oodSets.joined(separator: ", ")): \(pct(a)) vs \(pct(b))")
                } else { line("lp-ft ≥ ft out of distribution", nil, "") }
            }
        }
        return lines
    }
}
