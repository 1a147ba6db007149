// `loft pretrain`: causal-LM training on plain text (transformers run_clm.py), from scratch (random weights from a
// config.json) or continuing from a checkpoint; full training, text packed into max_length chunks.
using Loft.Formats.HuggingFace;
using Loft.Hub;
using Loft.Training.Sft;

namespace Loft.Cli.Commands;

public sealed class PretrainCommand : ICommand
{
    public string Name => "pretrain";
    public string Summary => "train a model on plain text, from scratch (--config-json) or from a checkpoint (--model)";
    public IReadOnlyCollection<string> Flags => ["no-shuffle", "gradient-checkpointing", "eval-on-start"];

    public string Usage => """
        loft pretrain (--model PATH | --config-json config.json --tokenizer PATH) --data TEXT --output DIR [options]

          --model PATH          continue training this checkpoint (its folder's tokenizer unless --tokenizer)
          --config-json FILE    train from scratch: random weights (normal(0, initializer_range), seeded) for this config
          --tokenizer PATH      tokenizer (required with --config-json)
          --data TEXT           plain text (.txt: one document per blank-line-separated block as Dataset.ReadText reads it)
          --output DIR          metrics.jsonl, checkpoint-STEP/ and the final HF model folder
          --max-length 1024 --learning-rate 2e-4 --lr-scheduler linear --warmup-steps 0 --num-epochs 3 --max-steps -1
          --batch-size 8 --grad-accum 1 --max-grad-norm 1.0 --weight-decay 0 --seed 42 --no-shuffle
          --logging-steps 1 --eval-steps 0 --save-steps 500 --eval-split 0.05 --threads N --gradient-checkpointing
          --eval-data TEXT      evaluate on this text file (chunked the same way) instead of an --eval-split
          --eval-on-start       evaluate once before the first step (metrics.jsonl step 0)
          --config FILE.yaml    the same keys from a YAML file (flags override it)
        """;

    static readonly string[] NotForPretrain = ["full", "init-adapter", "lora-r", "lora-alpha", "lora-dropout", "target-modules", "use-rslora", "packing", "template"];

    public int Run(CliArgs args)
    {
        string? configJson = args.Get("config-json");
        return TrainCommands.Run(args, "pretrain", o =>
        {
            ModelConfig? config = null;
            if (configJson != null)
            {
                if (o.Model != null) throw new CliException("pretrain: give --model or --config-json, not both");
                config = ModelConfig.Load(configJson);
            }
            else if (o.Model != null) o = o with { Model = ModelLocator.Resolve(o.Model) };
            var t = PretrainTrainer.Create(o, config);
            Console.Error.WriteLine($"pretrain: {t.ChunkCount} chunks of up to {t.Options.MaxLength} tokens; {t.TotalSteps} steps; " +
                $"{t.Model.Parameters.Sum(p => (long)p.Length):N0} parameters{(config != null ? " (random init)" : "")}");
            return t;
        }, NotForPretrain);
    }
}
