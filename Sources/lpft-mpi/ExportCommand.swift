import ArgumentParser
import Distributed
import Foundation
import Model

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a run's model as train does: DIR/model (Hugging Face folder + head) and, for LoRA runs, DIR/adapter (PEFT).",
        discussion: """
            For runs made before train wrote model/, runs with --save-model none, and
            checkpoints. Without --checkpoint: the final (best-epoch) model of a finished
            run, the same files train writes (temperature from metrics.json): LP from
            head.safetensors, LoRA and LP-LoRA from lora.safetensors, FT and LP-FT from
            the checkpoint of the last epoch (sweeps delete checkpoints unless
            --keep-checkpoints; an FT run without them cannot be exported).
            With --checkpoint epoch-K: the parameters after epoch K (train keeps the
            last complete checkpoint only), temperature 1 (not fitted).
              lpft-mpi export runs/lpft --out runs/lpft        # adds runs/lpft/model
              lpft-mpi export runs/lora --checkpoint epoch-2 --out exported/lora-e2
            """)

    @OptionGroup var options: ExportOptions

    func run() throws {
        let out = URL(fileURLWithPath: options.out)
        let manifest = try RunExport.export(run: URL(fileURLWithPath: options.runDirectory), checkpoint: options.checkpoint,
                                            into: out)
        let folders = ["model"] + (manifest.lora == nil ? [] : ["adapter"])
        print("wrote \(folders.map { out.appendingPathComponent($0).path }.joined(separator: " and ")): "
              + "\(manifest.method), \(manifest.parameters), T = \(String(format: "%.4g", manifest.temperature))")
    }
}
