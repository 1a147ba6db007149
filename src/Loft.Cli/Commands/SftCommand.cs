// `loft sft`: supervised fine-tuning (LoRA or full) of a LLaMA model, options as transformers TrainingArguments /
// PEFT LoraConfig in kebab case, optionally from a LLaMA-Factory-style YAML file (--config; flags override it).
using System.Globalization;
using Loft.Hub;
using Loft.Training.Data;
using Loft.Training.Sft;

namespace Loft.Cli.Commands;

public sealed class SftCommand : ICommand
{
    public string Name => "sft";
    public string Summary => "supervised fine-tuning (LoRA or full) on instruction/chat data";
    public IReadOnlyCollection<string> Flags => SftOptions.BooleanKeys.ToArray();

    public string Usage => """
        loft sft --model PATH --data FILE --output DIR [options]   (or --config FILE.yaml; flags override the file)

          --model PATH              base model (HF folder, safetensors, GGUF, llama2.c .bin, or Hub id)
          --data FILE               Alpaca / ShareGPT / OpenAI messages / pre-tokenized JSON or JSONL
          --output DIR              metrics.jsonl, checkpoint-STEP/ folders, and the final adapter (or model with --full)
          --tokenizer PATH          tokenizer (default: the model folder's)
          --template NAME           alpaca (default) | model (tokenizer_config.json chat template) | chatml, llama2, ...
          --full                    full fine-tuning (saves an HF model folder) instead of LoRA
          --init-adapter DIR        start from an existing PEFT adapter folder
          --lora-r 8 --lora-alpha 8 --lora-dropout 0 --target-modules q_proj,v_proj --use-rslora
          --modules-to-save lm_head,embed_tokens   train these modules fully (copies saved in the adapter, as PEFT)
          --resume-from-checkpoint DIR|latest      continue a run from OUTPUT/checkpoint-N (latest: the newest one):
                                    weights, optimizer moments, schedule, data position and dropout stream
          --learning-rate 2e-4      (TrainingArguments' default is 5e-5; 2e-4 is the usual LoRA rate)
          --weight-decay 0 --lr-scheduler linear|cosine|constant|constant_with_warmup --warmup-steps 0
          --num-epochs 3 --max-steps -1 --batch-size 8 --grad-accum 1 --max-grad-norm 1.0
          --max-length 1024 --packing --seed 42 --no-shuffle
          --logging-steps 1 --eval-steps 0 (0: at the end) --save-steps 500 --eval-split 0.05
          --eval-data FILE          evaluate on this file (same formats and rules as --data) instead of an --eval-split
          --eval-on-start           evaluate once before the first step (metrics.jsonl step 0)
          --threads N --gradient-checkpointing
        """;

    public int Run(CliArgs args) => TrainCommands.Run(args, "sft", o =>
    {
        if (o.Model != null) o = o with { Model = ModelLocator.Resolve(o.Model) };
        var t = SftTrainer.Create(o);
        string held = t.EvalDataset != null ? $"{t.EvalExamples.Count} eval examples from {o.EvalData}" : $"{t.Dataset.Eval.Count} held-out examples";
        Console.Error.WriteLine($"sft: {t.Dataset.Train.Count} training and {held}; {t.TotalSteps} steps " +
            $"({t.UpdatesPerEpoch} per epoch); {(o.Full ? "full fine-tuning" : LoraAdapterSummary(t))}");
        if (o.ResumeFromCheckpoint is { } r)
        {
            var dir = TrainerBase.ResolveCheckpoint(r, o.Output!);
            t.ResumeFrom(dir);
            Console.Error.WriteLine($"sft: resumed from {dir} at step {t.GlobalStep}");
        }
        return t;
    });

    static string LoraAdapterSummary(TrainerBase t)
    {
        long trainable = t.Model.Parameters.Sum(p => (long)p.Length);
        var adapter = t.Model.Adapter!;
        string saved = adapter.SavedModules.Count > 0 ? $", modules_to_save {string.Join(", ", adapter.SavedModules.Select(s => s.TensorName))}" : "";
        string dropout = adapter.Options.LoraDropout > 0 ? string.Create(CultureInfo.InvariantCulture, $", dropout {adapter.Options.LoraDropout}") : "";
        return $"LoRA r={adapter.Options.R}, {adapter.Modules.Count} modules{dropout}{saved}, {trainable:N0} trainable parameters";
    }
}

/// <summary>Shared option handling and the progress display of `loft sft` and `loft pretrain`.</summary>
static class TrainCommands
{
    /// <summary>Settings from --config (YAML), then the command-line values over them.</summary>
    public static SftOptions ReadOptions(CliArgs args, string command, IEnumerable<string>? skip = null)
    {
        var skipped = new HashSet<string>(skip ?? []);
        var settings = new List<KeyValuePair<string, string>>();
        var options = new SftOptions();
        if (args.Get("config") is { } yaml) options = SftOptions.FromSettings(SftOptions.ReadYaml(yaml), yaml);
        foreach (var key in SftOptions.Keys)
        {
            if (skipped.Contains(key)) continue;
            if (SftOptions.BooleanKeys.Contains(key)) { if (args.Flag(key)) settings.Add(new(key, "true")); }
            else if (args.Get(key) is { } v) settings.Add(new(key, v));
        }
        return SftOptions.FromSettings(settings, $"{command} (command line)", options);
    }

    public static int Run(CliArgs args, string command, Func<SftOptions, TrainerBase> create, IEnumerable<string>? skip = null)
    {
        var options = ReadOptions(args, command, skip);
        args.EnsureAllUsed();
        if (options.Output == null) throw new CliException($"{command}: missing required option --output");
        try
        {
            var trainer = create(options);
            bool live = !Console.IsErrorRedirected;
            bool started = false;   // a step has run (the eval_on_start evaluation comes before)
            trainer.Progress = p =>
            {
                started = true;
                var line = string.Create(CultureInfo.InvariantCulture,
                    $"step {p.Step}/{p.TotalSteps}  epoch {p.Epoch:F2}  loss {p.Loss:F4}  lr {p.LearningRate:E2}  {p.TokensPerSecond:F0} tok/s  ETA {Format(p.Eta)}");
                if (live) Console.Error.Write("\r" + Bar(p.Step, p.TotalSteps) + " " + line + "   ");
                else if (p.Step % trainer.Options.LoggingSteps == 0 || p.Step == p.TotalSteps) Console.Error.WriteLine(line);
            };
            trainer.Evaluated = e =>
            {
                if (live) Console.Error.WriteLine();
                string when = started ? $"eval at step {e.Step}" : $"eval before training (step {e.Step})";
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{when}: loss {e.Loss:F4}, perplexity {e.Perplexity:F3}"));
            };
            var result = trainer.Train();
            if (live) Console.Error.WriteLine();
            string evalText = (result.InitialEval, result.LastEval) switch
            {
                ({ } before, { } after) => string.Create(CultureInfo.InvariantCulture,
                    $", eval loss {before.Loss:F4} (perplexity {before.Perplexity:F3}) before, {after.Loss:F4} (perplexity {after.Perplexity:F3}) after"),
                (null, { } after) => string.Create(CultureInfo.InvariantCulture, $", eval loss {after.Loss:F4} (perplexity {after.Perplexity:F3})"),
                _ => "",
            };
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{command}: {result.Steps} steps, last loss {result.LastLoss:F4}{evalText}; saved to {result.OutputDir}"));
            return 0;
        }
        catch (TrainingDivergedException e)
        {
            Console.Error.WriteLine();
            Console.Error.WriteLine($"loft {command}: error: {e.Message}");
            return 1;
        }
        catch (DatasetFormatException e)
        {
            Console.Error.WriteLine($"loft {command}: error: {e.Message}");
            return 1;
        }
    }

    static string Bar(int step, int total)
    {
        const int width = 20;
        int filled = (int)((long)step * width / Math.Max(1, total));
        return "[" + new string('#', filled) + new string('.', width - filled) + "]";
    }

    static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : $"{t.Minutes}m{t.Seconds:D2}s";
}
