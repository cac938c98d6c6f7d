import ArgumentParser
import Distributed
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The paper's tables (mean ± std over seeds) and plots from sweeps or run folders.",
        discussion: """
            Tables: accuracy per task × method (ID test and each OOD set),
            calibration before → after temperature scaling, head norms, feature
            change Diff(F), NTK statistics (runs with ntk/epoch-0/kernel.json from
            train --ntk-at-start, or ntk/kernel.json), time;
            mean ± sample standard deviation (n − 1) over seeds.
            Writes into --out: report.md, one CSV per table, and SVG plots: head
            norm over training per method, feature change against head norm,
            reliability diagrams before and after temperature scaling, NTK
            eigenvalue spectra.
              lpft-mpi report sweeps/s1
              lpft-mpi report runs/ft runs/lp-ft --print csv --out report/
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case md, csv }

    @Argument(help: "Sweep folders, run folders, or folders of run folders.")
    var paths: [String]
    @Option(name: .customLong("print"), help: "md or csv: what is printed (report.md and the CSV files are written either way).")
    var printed: Format = .md
    @Option(help: "Output folder (default: SWEEPDIR/report for one sweep folder, else ./report).")
    var out: String?

    func run() throws {
        let urls = paths.map { URL(fileURLWithPath: $0) }
        let (runs, missing) = try RunResult.collect(urls)
        let report = SweepReport(runs: runs, missing: missing)
        let outURL: URL
        if let out {
            outURL = URL(fileURLWithPath: out)
        } else if urls.count == 1, FileManager.default.fileExists(atPath: SweepDirectory(urls[0]).manifestURL.path) {
            outURL = urls[0].appendingPathComponent("report")
        } else {
            outURL = URL(fileURLWithPath: "report")
        }
        let files = try report.write(to: outURL)
        print(printed == .md ? report.markdown() : report.csv())
        let plots = files.filter { $0.pathExtension == "svg" }.count
        print("wrote \(outURL.appendingPathComponent("report.md").path), \(files.count - plots - 1) CSV table(s) and \(plots) plot(s)")
    }
}
