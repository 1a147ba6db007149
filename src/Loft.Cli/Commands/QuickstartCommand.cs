// `loft quickstart`: the offline end-to-end demo (QuickstartRunner): pretrain a tiny LLaMA on generated tasks, LoRA
// fine-tune it on instructions, print held-out exact match before/after and write loss.png beside the metrics.
using Loft.Training.Quickstart;

namespace Loft.Cli.Commands;

public sealed class QuickstartCommand : ICommand
{
    public string Name => "quickstart";
    public string Summary => "offline demo: pretrain a tiny LLaMA on generated tasks, LoRA-tune it, show accuracy before/after (~70 s)";
    public IReadOnlyCollection<string> Flags => ["fast"];

    public string Usage => """
        loft quickstart [--out DIR] [--fast | --steps-scale X] [options]

          --out DIR             output folder (default ./quickstart-output): pretrain.txt, instructions.jsonl,
                                heldout.jsonl, pretrain/ and lora/ (metrics.jsonl, weights), results.json, loss.png
          --fast                a ~10 s run (a tenth of the steps; accuracy stays near zero)
          --steps-scale X       multiply the pretraining and fine-tuning step counts by X
          --pretrain-steps 4800 --lora-steps 300 --batch-size 4 (pretraining) --eval-count 100 --samples 6 --seed 42 --threads N
        """;

    public int Run(CliArgs args)
    {
        var o = new QuickstartOptions();
        o = o with
        {
            Output = args.Get("out") ?? o.Output,
            PretrainSteps = args.GetInt("pretrain-steps", o.PretrainSteps),
            LoraSteps = args.GetInt("lora-steps", o.LoraSteps),
            EvalCount = args.GetInt("eval-count", o.EvalCount),
            Samples = args.GetInt("samples", o.Samples),
            Seed = args.GetInt("seed", o.Seed),
            Threads = args.GetInt("threads", o.Threads),
        };
        o = o with { PretrainBatch = args.GetInt("batch-size", o.PretrainBatch) };
        bool fast = args.Flag("fast");
        double? scale = args.Get("steps-scale") is { } s ? args.GetDouble("steps-scale", 1) : null;
        args.EnsureAllUsed();
        if (fast && scale != null) throw new CliException("quickstart: give --fast or --steps-scale, not both");
        if (fast) scale = FastScale;
        try
        {
            if (scale is { } x) o = o.ScaleSteps(x);
            o.Validate();
        }
        catch (ArgumentException e) { throw new CliException($"quickstart: {e.Message}"); }
        QuickstartRunner.Run(o, Console.Out);
        return 0;
    }

    /// <summary>The step scale of --fast.</summary>
    public const double FastScale = 0.1;
}
