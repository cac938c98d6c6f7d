import Foundation
import Model

/// The paper's tables and plots over a set of runs: means ± sample standard deviations over
/// seeds for every (task, method, variant), where a variant is the settings that differ
/// between runs of the same task and method (learning rate, head scale, ...).
public struct SweepReport: Sendable {
    /// Runs of one task, method and variant (one per seed).
    public struct Group: Sendable {
        public var task: String
        public var method: String
        /// "lr=5e-05, head-scale=10", or "" when all runs of the task and method agree.
        public var variant: String
        public var runs: [RunResult]

        public var label: String { variant.isEmpty ? method : "\(method) (\(variant))" }

        func statistic(_ value: (RunResult) -> Double?) -> Statistic { Statistic(runs.compactMap(value)) }
    }

    public var groups: [Group]
    /// Runs of a sweep without results (not run yet, running or failed).
    public var missing: [String]

    public init(runs: [RunResult], missing: [String] = []) {
        self.missing = missing
        let methodOrder = TrainingMethod.allCases.map(\.rawValue)
        var tasks: [String] = []
        for run in runs where !tasks.contains(run.task) { tasks.append(run.task) }
        var groups: [Group] = []
        for task in tasks {
            let ofTask = runs.filter { $0.task == task }
            let methods = Set(ofTask.map(\.method)).sorted {
                (methodOrder.firstIndex(of: $0) ?? 99, $0) < (methodOrder.firstIndex(of: $1) ?? 99, $1)
            }
            for method in methods {
                let ofMethod = ofTask.filter { $0.method == method }
                // Settings that differ between these runs name the variants.
                let keys = Set(ofMethod.flatMap { $0.settings.keys }).filter { key in
                    Set(ofMethod.map { $0.settings[key] ?? "" }).count > 1
                }.sorted()
                var byVariant: [String: [RunResult]] = [:]
                var order: [String] = []
                for run in ofMethod {
                    let variant = keys.map { "\($0)=\(run.settings[$0] ?? "-")" }.joined(separator: ", ")
                    if byVariant[variant] == nil { order.append(variant) }
                    byVariant[variant, default: []].append(run)
                }
                for variant in order.sorted(by: Self.naturalOrder) {
                    let members = (byVariant[variant] ?? []).sorted { $0.seed < $1.seed }
                    groups.append(Group(task: task, method: method, variant: variant, runs: members))
                }
            }
        }
        self.groups = groups
    }

    /// Orders variant labels with numbers compared as numbers (head-scale=2 before =10).
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: [.numeric]) == .orderedAscending
    }

    private var showVariant: Bool { groups.contains { !$0.variant.isEmpty } }

    private func leadingColumns() -> [ReportTable.Column] {
        var columns = [ReportTable.Column("task", csv: "task", kind: .text), ReportTable.Column("method", csv: "method", kind: .text)]
        if showVariant { columns.append(.init("variant", csv: "variant", kind: .text)) }
        columns.append(.init("n", csv: "seeds", kind: .text))
        return columns
    }

    private func leadingCells(_ g: Group) -> [ReportTable.Cell] {
        var cells: [ReportTable.Cell] = [.text(g.task), .text(g.method)]
        if showVariant { cells.append(.text(g.variant.isEmpty ? "-" : g.variant)) }
        cells.append(.text(String(g.runs.count)))
        return cells
    }

    /// Evaluation sets other than validation, test first, in the order the runs list them.
    private func evaluationSets() -> [String] {
        var sets = ["test"]
        for g in groups {
            for run in g.runs {
                for name in run.metrics.eval.keys.sorted() where name != "validation" && !sets.contains(name) { sets.append(name) }
            }
        }
        return sets
    }

    // MARK: Tables

    /// Accuracy (%) on the ID test set and each OOD set.
    public func accuracyTable() -> ReportTable {
        let sets = evaluationSets()
        let columns = leadingColumns() + sets.map { set in
            ReportTable.Column(set == "test" ? "ID test" : "OOD \(set)", csv: "accuracy_\(set)", digits: 2, scale: 100)
        }
        let rows = groups.map { g in
            leadingCells(g) + sets.map { set -> ReportTable.Cell in
                let s = g.statistic { $0.metrics.eval[set]?.accuracy }
                return s.count > 0 ? .stat(s) : .missing
            }
        }
        return ReportTable(name: "accuracy", title: "Accuracy (%)", note: "mean ± sample standard deviation (n − 1) over seeds",
                           columns: columns, rows: rows)
    }

    /// Calibration before → after temperature scaling, per evaluation set.
    public func calibrationTable() -> ReportTable {
        let columns = leadingColumns() + [
            .init("set", csv: "set", kind: .text),
            .init("ECE % → TS", csv: "ece", kind: .pair, digits: 2, scale: 100),
            .init("MCE % → TS", csv: "mce", kind: .pair, digits: 2, scale: 100),
            .init("Brier → TS", csv: "brier", kind: .pair, digits: 4),
            .init("NLL → TS", csv: "nll", kind: .pair, digits: 4),
            .init("T", csv: "temperature", digits: 3),
        ]
        var rows: [[ReportTable.Cell]] = []
        for g in groups {
            for set in evaluationSets() {
                let present = g.runs.filter { $0.metrics.eval[set] != nil }
                guard !present.isEmpty else { continue }
                func pair(_ before: KeyPath<SetMetrics, Double>, _ after: KeyPath<SetMetrics, Double>) -> ReportTable.Cell {
                    .pair(g.statistic { $0.metrics.eval[set]?[keyPath: before] }, g.statistic { $0.metrics.eval[set]?[keyPath: after] })
                }
                rows.append(leadingCells(g) + [.text(set), pair(\.ece, \.ece_ts), pair(\.mce, \.mce_ts), pair(\.brier, \.brier_ts),
                                               pair(\.nll, \.nll_ts), .stat(g.statistic { $0.metrics.eval[set]?.temperature })])
            }
        }
        return ReportTable(name: "calibration", title: "Calibration before → after temperature scaling",
                           note: "T fitted on the validation set; ECE and MCE with 15 equal-width bins", columns: columns, rows: rows)
    }

    /// Classifier-head norms ‖V‖_F.
    public func headNormTable() -> ReportTable {
        let scaled = groups.contains { g in g.runs.contains { $0.config.headScale != 1 } }
        var columns = leadingColumns() + [ReportTable.Column("init", csv: "head_norm_init", digits: 3),
                                          .init("after LP", csv: "head_norm_after_lp", digits: 3)]
        if scaled { columns.append(.init("start of training", csv: "head_norm_start", digits: 3)) }
        columns += [.init("final", csv: "head_norm_final", digits: 3), .init("final / init", csv: "head_norm_growth", digits: 1)]
        let rows = groups.map { g -> [ReportTable.Cell] in
            let afterLP = g.statistic { $0.metrics.head_norm.after_lp }
            var cells = leadingCells(g) + [.stat(g.statistic { $0.metrics.head_norm.`init` }), afterLP.count > 0 ? .stat(afterLP) : .missing]
            if scaled {
                let start = g.statistic { $0.metrics.head_norm.start_of_training }
                cells.append(start.count > 0 ? .stat(start) : .missing)
            }
            cells += [.stat(g.statistic { $0.metrics.head_norm.final }),
                      .stat(g.statistic { $0.metrics.head_norm.final / $0.metrics.head_norm.`init` })]
            return cells
        }
        return ReportTable(name: "head_norm", title: "Classifier head norm ‖V‖_F", note: nil, columns: columns, rows: rows)
    }

    /// Feature change of the training stage on the test set.
    public func featureTable() -> ReportTable {
        let columns = leadingColumns() + [
            ReportTable.Column("Diff(F)", csv: "diff", digits: 3),
            .init("CS before → after", csv: "cs", kind: .pair, digits: 3),
            .init("FDR before → after", csv: "fdr", kind: .pair, digits: 3),
        ]
        let rows = groups.map { g in
            leadingCells(g) + [.stat(g.statistic { $0.metrics.features.diff }),
                               .pair(g.statistic { $0.metrics.features.cs_before }, g.statistic { $0.metrics.features.cs }),
                               .pair(g.statistic { $0.metrics.features.fdr_before }, g.statistic { $0.metrics.features.fdr })]
        }
        return ReportTable(name: "features", title: "Feature change in the training stage (test set)",
                           note: "Diff(F) = mean ‖φ_after(x) − φ_before(x)‖₂; CS = mean pairwise cosine; FDR = Fisher discriminant ratio",
                           columns: columns, rows: rows)
    }

    /// NTK statistics of the runs that have a kernel.json; nil when none has.
    public func kernelTable() -> ReportTable? {
        let withKernel = groups.compactMap { g -> Group? in
            let runs = g.runs.filter { $0.kernel != nil }
            return runs.isEmpty ? nil : Group(task: g.task, method: g.method, variant: g.variant, runs: runs)
        }
        guard !withKernel.isEmpty else { return nil }
        var columns = leadingColumns()
        columns.append(.init("examples", csv: "examples", digits: 0))
        for k in KernelStatistics.kernelNames { columns.append(.init("rank \(Self.kernelLabel(k))", csv: "rank_\(k)", digits: 1)) }
        for k in KernelStatistics.kernelNames { columns.append(.init("‖\(Self.kernelLabel(k))‖_F", csv: "frobenius_\(k)", digits: 4)) }
        columns += [.init("FT ratio", csv: "ft_ratio", digits: 4),
                    .init("kernel acc. train %", csv: "kernel_accuracy_train", digits: 1, scale: 100),
                    .init("kernel acc. eval %", csv: "kernel_accuracy_eval", digits: 1, scale: 100)]
        let rows = withKernel.map { g -> [ReportTable.Cell] in
            func stat(_ value: (KernelStatistics) -> Double?) -> ReportTable.Cell {
                let s = g.statistic { $0.kernel.flatMap(value) }
                return s.count > 0 ? .stat(s) : .missing
            }
            var cells = leadingCells(g)
            cells.append(stat { $0.examples.map(Double.init) })
            for k in KernelStatistics.kernelNames { cells.append(stat { $0.kernels[k]?.rank.map(Double.init) }) }
            for k in KernelStatistics.kernelNames { cells.append(stat { $0.kernels[k]?.frobenius }) }
            cells += [stat { $0.ftRatio }, stat { $0.kernels["ntk"]?.kernelAccuracyTrain }, stat { $0.kernels["ntk"]?.kernelAccuracyEval }]
            return cells
        }
        return ReportTable(name: "ntk", title: "Empirical NTK at the start of the training stage",
                           note: "P = pre-train-effective, F = FT-effective, P+F = NTK; kernel accuracy of P+F",
                           columns: columns, rows: rows)
    }

    /// The kernel during training (runs with ntk/epoch-K): per group and epoch the distance
    /// from the start, the label alignment and the FT ratio; nil when no run has them.
    public func kernelTrajectoryTable() -> ReportTable? {
        let withTrajectory = groups.filter { g in g.runs.contains { $0.kernelTrajectory != nil } }
        guard !withTrajectory.isEmpty else { return nil }
        let columns = leadingColumns() + [ReportTable.Column("epoch", csv: "epoch", kind: .text),
                                          .init("d(K₀, K)", csv: "kernel_distance", digits: 4),
                                          .init("alignment", csv: "label_alignment", digits: 4),
                                          .init("FT ratio", csv: "ft_ratio", digits: 4)]
        var rows: [[ReportTable.Cell]] = []
        for g in withTrajectory {
            let epochs = Set(g.runs.flatMap { $0.kernelTrajectory?.points.map(\.epoch) ?? [] }).sorted()
            for epoch in epochs {
                func stat(_ value: (KernelTrajectory.Point) -> Double?) -> ReportTable.Cell {
                    let s = g.statistic { run in run.kernelTrajectory?.points.first { $0.epoch == epoch }.flatMap(value) }
                    return s.count > 0 ? .stat(s) : .missing
                }
                rows.append(leadingCells(g) + [.text(String(epoch)), stat(\.distance), stat(\.alignment), stat(\.ftRatio)])
            }
        }
        return ReportTable(name: "ntk_during_training", title: "Empirical NTK during training",
                           note: "K = P + F of the same fixed training examples after each epoch (0 = start of the training stage); "
                               + "d(K₀, K) = 1 − ⟨K₀, K⟩_F / (‖K₀‖_F ‖K‖_F); alignment = ⟨K, YYᵀ⟩_F / (‖K‖_F ‖YYᵀ‖_F), Y the flattened one-hot labels",
                           columns: columns, rows: rows)
    }

    /// Distance from the start, label alignment and FT ratio over the epochs, one line per
    /// group (mean over seeds), one figure per task.
    public func kernelTrajectoryCharts() -> [(name: String, chart: [SVGChart])] {
        tasks.compactMap { task in
            let ofTask = groups.filter { g in g.task == task && g.runs.contains { $0.kernelTrajectory != nil } }
            guard !ofTask.isEmpty else { return nil }
            let measures: [(String, (KernelTrajectory.Point) -> Double?)] = [
                ("kernel distance d(K₀, K)", \.distance), ("kernel–label alignment", \.alignment), ("FT ratio", \.ftRatio)]
            let charts = measures.map { title, value -> SVGChart in
                var chart = SVGChart(title: "\(task): \(title)", xLabel: "epoch", yLabel: title)
                chart.width = 460
                for g in ofTask {
                    let epochs = Set(g.runs.flatMap { $0.kernelTrajectory?.points.map(\.epoch) ?? [] }).sorted()
                    let points = epochs.compactMap { epoch -> (x: Double, y: Double)? in
                        let s = Statistic(g.runs.compactMap { run in run.kernelTrajectory?.points.first { $0.epoch == epoch }.flatMap(value) })
                        return s.count > 0 ? (x: Double(epoch), y: s.mean) : nil
                    }
                    if !points.isEmpty { chart.series.append(.init(name: g.label, points: points, color: color(g))) }
                }
                return chart
            }
            return ("ntk_during_training-\(Self.fileName(task))", charts)
        }
    }

    static func kernelLabel(_ name: String) -> String {
        switch name { case "pte": return "P"; case "fte": return "F"; default: return "P+F" }
    }

    /// Wall time per run.
    public func timeTable() -> ReportTable {
        let columns = leadingColumns() + [ReportTable.Column("seconds per run", csv: "seconds", digits: 1),
                                          .init("train examples/s", csv: "train_examples_per_s", digits: 1)]
        let rows = groups.map { g -> [ReportTable.Cell] in
            let rate = g.statistic { $0.metrics.timing.train_examples_per_s }
            return leadingCells(g) + [.stat(g.statistic { $0.metrics.timing.total_seconds }), rate.count > 0 ? .stat(rate) : .missing]
        }
        return ReportTable(name: "time", title: "Time", note: nil, columns: columns, rows: rows)
    }

    /// The paper in miniature: per group ID and OOD accuracy, ECE → ECE after temperature
    /// scaling (test set), head norm init → after LP → final, Diff(F) and seconds per run.
    public func miniatureTable() -> ReportTable {
        let sets = evaluationSets()
        var columns = leadingColumns()
        columns += sets.map { ReportTable.Column($0 == "test" ? "ID acc %" : "\($0) acc %", csv: "accuracy_\($0)", digits: 1, scale: 100) }
        columns += [.init("ECE % → TS", csv: "ece", kind: .pair, digits: 1, scale: 100),
                    .init("head norm init → LP → final", csv: "head_norm", kind: .text),
                    .init("Diff(F)", csv: "diff", digits: 2), .init("seconds", csv: "seconds", digits: 0)]
        let rows = groups.map { g -> [ReportTable.Cell] in
            var cells = leadingCells(g)
            for set in sets {
                let s = g.statistic { $0.metrics.eval[set]?.accuracy }
                cells.append(s.count > 0 ? .stat(s) : .missing)
            }
            cells.append(.pair(g.statistic { $0.metrics.eval["test"]?.ece }, g.statistic { $0.metrics.eval["test"]?.ece_ts }))
            let afterLP = g.statistic { $0.metrics.head_norm.after_lp }
            cells.append(.text([g.statistic { $0.metrics.head_norm.`init` }.text(digits: 2),
                                afterLP.count > 0 ? afterLP.text(digits: 2) : "–",
                                g.statistic { $0.metrics.head_norm.final }.text(digits: 2)].joined(separator: " → ")))
            cells.append(g.method == TrainingMethod.lp.rawValue ? .missing : .stat(g.statistic { $0.metrics.features.diff }))
            cells.append(.stat(g.statistic { $0.metrics.timing.total_seconds }))
            return cells
        }
        return ReportTable(name: "miniature", title: "The paper in miniature", note: nil, columns: columns, rows: rows)
    }

    public func tables() -> [ReportTable] {
        [accuracyTable(), calibrationTable(), headNormTable(), featureTable()] + [kernelTable(), kernelTrajectoryTable()].compactMap { $0 }
            + [timeTable()]
    }

    // MARK: Plots

    /// The same colour for a method in every plot; further variants of it take the next colours.
    private func color(method: String, variant: Int = 0) -> String {
        let index = TrainingMethod.allCases.map(\.rawValue).firstIndex(of: method) ?? TrainingMethod.allCases.count
        return SVGChart.palette[(index + variant * TrainingMethod.allCases.count) % SVGChart.palette.count]
    }

    /// The colour of a group: its method's, shifted by the group's rank among that method's variants.
    private func color(_ group: Group) -> String {
        let variants = groups.filter { $0.task == group.task && $0.method == group.method }.map(\.variant)
        return color(method: group.method, variant: variants.firstIndex(of: group.variant) ?? 0)
    }

    private var tasks: [String] {
        var tasks: [String] = []
        for g in groups where !tasks.contains(g.task) { tasks.append(g.task) }
        return tasks
    }

    /// Head norm over the training stage per method (mean over seeds), one chart per task:
    /// epoch 0 is the start of the training stage, epoch e the end of epoch e.
    public func headNormCharts() -> [(name: String, chart: SVGChart)] {
        tasks.compactMap { task in
            var chart = SVGChart(title: "Head norm during training — \(task)", xLabel: "epoch", yLabel: "‖V‖_F")
            for g in groups where g.task == task {
                let curves = g.runs.map { run -> [Double] in
                    [run.metrics.head_norm.start_of_training ?? run.metrics.head_norm.`init`] + run.metrics.head_norm.per_epoch
                }
                let length = curves.map(\.count).min() ?? 0
                guard length > 1 else { continue }
                let points = (0..<length).map { e in (x: Double(e), y: Statistic(curves.map { $0[e] }).mean) }
                chart.series.append(.init(name: g.label, points: points, color: color(g)))
            }
            return chart.series.isEmpty ? nil : ("head_norm-\(Self.fileName(task))", chart)
        }
    }

    /// Diff(F) against the head norm at the start of training, every run with a training stage.
    public func featureChangeChart() -> (name: String, chart: SVGChart)? {
        var chart = SVGChart(title: "Feature change against head norm", xLabel: "head norm ‖V‖_F at the start of training",
                             yLabel: "Diff(F)")
        chart.xScale = .log
        var byLabel: [String: [(x: Double, y: Double)]] = [:]
        var order: [String] = []
        var methodOf: [String: String] = [:]
        for g in groups where g.method != TrainingMethod.lp.rawValue {
            let label = tasks.count > 1 ? "\(g.task): \(g.method)" : g.method
            for run in g.runs {
                let x = run.metrics.head_norm.start_of_training ?? run.metrics.head_norm.`init`
                if byLabel[label] == nil { order.append(label); methodOf[label] = g.method }
                byLabel[label, default: []].append((x: x, y: run.metrics.features.diff))
            }
        }
        for (index, label) in order.enumerated() {
            let variant = order[..<index].filter { methodOf[$0] == methodOf[label] }.count
            chart.series.append(.init(name: label, points: byLabel[label] ?? [], style: .scatter,
                                      color: color(method: methodOf[label] ?? "", variant: variant)))
        }
        return chart.series.isEmpty ? nil : ("feature_change", chart)
    }

    /// Reliability diagrams of the test set before and after temperature scaling per group
    /// (bins pooled over seeds), for runs that recorded them.
    public func reliabilityCharts() -> [(name: String, chart: [SVGChart])] {
        groups.compactMap { g in
            let diagrams = g.runs.compactMap { $0.metrics.eval["test"]?.reliability }
            guard !diagrams.isEmpty, let bins = diagrams.first?.before.counts.count,
                  diagrams.allSatisfy({ $0.before.counts.count == bins && $0.after.counts.count == bins }) else { return nil }
            func pooled(_ pick: (Reliability) -> ReliabilityDiagram, title: String, color: String) -> SVGChart {
                var chart = SVGChart(title: title, xLabel: "confidence", yLabel: "accuracy")
                chart.xRange = 0...1
                chart.yRange = 0...1
                chart.diagonal = true
                chart.width = 420
                var accuracy: [(x: Double, y: Double)] = [], confidence: [(x: Double, y: Double)] = []
                var ece = 0.0, total = 0
                for b in 0..<bins {
                    let count = diagrams.reduce(0) { $0 + pick($1).counts[b] }
                    total += count
                    guard count > 0 else { continue }
                    let acc = diagrams.reduce(0.0) { $0 + pick($1).accuracy[b] * Double(pick($1).counts[b]) } / Double(count)
                    let conf = diagrams.reduce(0.0) { $0 + pick($1).confidence[b] * Double(pick($1).counts[b]) } / Double(count)
                    // Bar height against marker height is the bin's gap |accuracy − confidence|.
                    accuracy.append((x: (Double(b) + 0.5) / Double(bins), y: acc))
                    confidence.append((x: (Double(b) + 0.5) / Double(bins), y: conf))
                    ece += Double(count) * abs(acc - conf)
                }
                chart.title += String(format: " (ECE %.2f%%)", 100 * ece / Double(max(total, 1)))
                chart.series = [.init(name: "accuracy", points: accuracy, style: .bars(width: 1 / Double(bins)), color: color),
                                .init(name: "mean confidence", points: confidence, style: .scatter, color: "#333333")]
                return chart
            }
            let before = pooled({ $0.before }, title: "\(g.label): before TS", color: "#D55E00")
            let after = pooled({ $0.after }, title: "after TS", color: "#0072B2")
            return ("reliability-\(Self.fileName(g.task))-\(Self.fileName(g.label))", [before, after])
        }
    }

    /// Eigenvalue spectra (log scale) of P, F and P+F, one line per group (mean over seeds).
    public func spectrumChart() -> (name: String, chart: [SVGChart])? {
        let withKernel = groups.filter { g in g.runs.contains { $0.kernel != nil } }
        guard !withKernel.isEmpty else { return nil }
        let charts = KernelStatistics.kernelNames.map { k -> SVGChart in
            var chart = SVGChart(title: "Eigenvalues of \(Self.kernelLabel(k))", xLabel: "index", yLabel: "eigenvalue")
            chart.yScale = .log
            chart.width = 460
            for g in withKernel {
                let spectra = g.runs.compactMap { $0.kernel?.kernels[k]?.topEigenvalues }.filter { !$0.isEmpty }
                let length = spectra.map(\.count).min() ?? 0
                guard length > 0 else { continue }
                let points = (0..<length).map { i in (x: Double(i + 1), y: Statistic(spectra.map { $0[i] }).mean) }
                let label = tasks.count > 1 ? "\(g.task): \(g.label)" : g.label
                chart.series.append(.init(name: label, points: points, color: color(g)))
            }
            return chart
        }
        return charts.contains { !$0.series.isEmpty } ? ("ntk_spectrum", charts) : nil
    }

    /// A file-name part for `text`: letters, digits, '-' and '_'; long names (a task named by
    /// its files) are cut and told apart by a hash, within the file system's name limit.
    static func fileName(_ text: String) -> String {
        let safe = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" })
        guard safe.count > 60 else { return safe }
        return safe.prefix(48) + "-" + FNV1a64.hex(text).prefix(10)
    }

    // MARK: Output

    /// Writes report.md, one CSV per table and the SVG plots into `directory`; returns the
    /// files written.
    @discardableResult
    public func write(to directory: URL, title: String = "lpft-mpi report", preface: String? = nil) throws -> [URL] {
        guard !groups.isEmpty else {
            throw ReportError.nothingToReport("no finished runs to report" + (missing.isEmpty ? "" : " (\(missing.count) run(s) without results)"))
        }
        try FileOperations.createDirectory(directory)
        var written: [URL] = []
        func save(_ text: String, _ name: String) throws {
            let url = directory.appendingPathComponent(name)
            try FileOperations.writeAtomically(Data(text.utf8), to: url)
            written.append(url)
        }
        var markdown = markdown(title: title, preface: preface)
        markdown += "\n## Plots\n\n"
        for (name, chart) in headNormCharts() { try save(chart.document(), name + ".svg"); markdown += "![\(name)](\(name).svg)\n\n" }
        if let (name, chart) = featureChangeChart() { try save(chart.document(), name + ".svg"); markdown += "![\(name)](\(name).svg)\n\n" }
        for (name, charts) in reliabilityCharts() {
            try save(SVGChart.figure(charts, columns: 2), name + ".svg"); markdown += "![\(name)](\(name).svg)\n\n"
        }
        if let (name, charts) = spectrumChart() {
            try save(SVGChart.figure(charts, columns: 3), name + ".svg"); markdown += "![\(name)](\(name).svg)\n\n"
        }
        for (name, charts) in kernelTrajectoryCharts() {
            try save(SVGChart.figure(charts, columns: 3), name + ".svg"); markdown += "![\(name)](\(name).svg)\n\n"
        }
        for table in tables() { try save(table.csv(), table.name + ".csv") }
        try save(markdown, "report.md")
        return written
    }

    /// The tables as Markdown (headings, notes, tables); `preface` goes right after the title.
    public func markdown(title: String = "lpft-mpi report", preface: String? = nil) -> String {
        let runs = groups.reduce(0) { $0 + $1.runs.count }
        var text = "# \(title)\n\n" + (preface.map { $0 + "\n\n" } ?? "") + "\(runs) run(s) in \(groups.count) group(s)"
        if !missing.isEmpty { text += "; \(missing.count) run(s) of the sweep have no results yet: \(missing.joined(separator: ", "))" }
        text += ".\n"
        for table in tables() {
            text += "\n## \(table.title)\n\n"
            if let note = table.note { text += "\(note).\n\n" }
            text += table.markdown()
        }
        text += "\n## The paper's findings in these runs\n\n" + findings().map { "- \($0)\n" }.joined()
        return text
    }

    /// The tables as CSV blocks, each preceded by a `# title` line.
    public func csv() -> String {
        tables().map { "# \($0.title)\n" + $0.csv() }.joined(separator: "\n")
    }
}
