// Options of the SFT / pretraining trainers, named after transformers' TrainingArguments and PEFT's LoraConfig
// (kebab case on the command line, snake or kebab case in a LLaMA-Factory-style YAML file).
using System.Globalization;
using Loft.Nn.Optim;
using Loft.Peft.Lora;
using Loft.Training.Data;

namespace Loft.Training.Sft;

/// <summary>
/// Trainer options. Defaults are transformers TrainingArguments' except <see cref="LearningRate"/>: TrainingArguments
/// uses 5e-5 (tuned for full fine-tuning); LoRA practice (PEFT examples, LLaMA-Factory recipes) is 1e-4..2e-4, so the
/// default here is 2e-4 and full fine-tuning users should pass a lower rate.
/// </summary>
public sealed record SftOptions
{
    /// <summary>Base model (HF folder, safetensors, GGUF or llama2.c file).</summary>
    public string? Model { get; init; }
    /// <summary>Dataset file (Alpaca / ShareGPT / OpenAI / pre-tokenized JSON(L); plain text for pretraining).</summary>
    public string? Data { get; init; }
    /// <summary>Output folder (TrainingArguments.output_dir).</summary>
    public string? Output { get; init; }
    /// <summary>Tokenizer path; null: the model folder's tokenizer.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>Full fine-tuning instead of LoRA.</summary>
    public bool Full { get; init; }
    /// <summary>Existing PEFT adapter folder to start from.</summary>
    public string? InitAdapter { get; init; }

    /// <summary>LoraConfig.r = 8.</summary>
    public int LoraR { get; init; } = 8;
    /// <summary>LoraConfig.lora_alpha = 8.</summary>
    public double LoraAlpha { get; init; } = 8;
    /// <summary>LoraConfig.lora_dropout = 0.</summary>
    public double LoraDropout { get; init; }
    /// <summary>LoraConfig.target_modules; null: PEFT's default for the model type (q_proj, v_proj for llama).</summary>
    public IReadOnlyList<string>? TargetModules { get; init; }
    /// <summary>LoraConfig.use_rslora = false.</summary>
    public bool UseRslora { get; init; }
    /// <summary>LoraConfig.modules_to_save = None: modules trained fully as copies and saved in the adapter (e.g. lm_head,
    /// embed_tokens; PEFT matches the end of the module name).</summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }
    /// <summary>TrainingArguments.resume_from_checkpoint: a checkpoint-N folder, or "latest" (also "true") for the newest
    /// checkpoint-N in the output folder; null starts fresh.</summary>
    public string? ResumeFromCheckpoint { get; init; }

    /// <summary>learning_rate (see the type remarks: 2e-4, not TrainingArguments' 5e-5).</summary>
    public double LearningRate { get; init; } = 2e-4;
    /// <summary>weight_decay = 0.</summary>
    public double WeightDecay { get; init; }
    /// <summary>adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8.</summary>
    public double AdamBeta1 { get; init; } = 0.9;
    public double AdamBeta2 { get; init; } = 0.999;
    public double AdamEpsilon { get; init; } = 1e-8;
    /// <summary>lr_scheduler_type = linear (constant, constant_with_warmup, linear, cosine).</summary>
    public string LrScheduler { get; init; } = "linear";
    /// <summary>warmup_steps = 0.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>num_train_epochs = 3.</summary>
    public double NumEpochs { get; init; } = 3;
    /// <summary>max_steps = -1 (then epochs decide).</summary>
    public int MaxSteps { get; init; } = -1;
    /// <summary>per_device_train_batch_size = 8.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>gradient_accumulation_steps = 1.</summary>
    public int GradAccum { get; init; } = 1;
    /// <summary>max_grad_norm = 1.0 (0 disables clipping).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>TRL SFTConfig.max_length = 1024.</summary>
    public int MaxLength { get; init; } = 1024;
    /// <summary>TRL SFTConfig.packing = false.</summary>
    public bool Packing { get; init; }
    /// <summary>seed = 42.</summary>
    public int Seed { get; init; } = 42;
    /// <summary>Keep the data order (no per-epoch shuffle).</summary>
    public bool NoShuffle { get; init; }
    /// <summary>logging_steps (TrainingArguments 500; 1 here: the metrics file is the record of the run).</summary>
    public int LoggingSteps { get; init; } = 1;
    /// <summary>eval_steps: evaluate the held-out split every N steps (0: only at the end).</summary>
    public int EvalSteps { get; init; }
    /// <summary>save_steps = 500 (0: no intermediate checkpoints).</summary>
    public int SaveSteps { get; init; } = 500;
    /// <summary>Fraction of the data held out for evaluation (LLaMA-Factory val_size); 0.05 by default. Ignored when
    /// <see cref="EvalData"/> is given (then no split is taken from the training file).</summary>
    public double EvalSplit { get; init; } = 0.05;
    /// <summary>A separate evaluation file (TRL SFTTrainer eval_dataset, LLaMA-Factory eval_dataset): records in the same
    /// formats as <see cref="Data"/>, formatted, truncated and packed by the same rules; null: the eval_split of the data.</summary>
    public string? EvalData { get; init; }
    /// <summary>TrainingArguments.eval_on_start = false: evaluate once before the first step (logged as that step, 0 for a
    /// fresh run).</summary>
    public bool EvalOnStart { get; init; }
    /// <summary>alpaca | model | built-in chat template name.</summary>
    public string Template { get; init; } = SftDataOptions.AlpacaTemplate;
    /// <summary>Worker threads (0: the pool's default).</summary>
    public int Threads { get; init; }
    /// <summary>Gradient checkpointing (TrainingArguments.gradient_checkpointing = false).</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>Throws ArgumentException naming the bad option and its value.</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string rule)
        {
            if (!ok) throw new ArgumentException($"{name} = {Convert.ToString(value, CultureInfo.InvariantCulture)}: {rule}");
        }
        Check(LoraR >= 1, "lora_r", LoraR, "must be >= 1");
        Check(LoraAlpha > 0, "lora_alpha", LoraAlpha, "must be > 0");
        Check(LoraDropout is >= 0 and < 1, "lora_dropout", LoraDropout, "must be in [0, 1)");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), "learning_rate", LearningRate, "must be a positive number");
        Check(WeightDecay >= 0, "weight_decay", WeightDecay, "must be >= 0");
        Check(WarmupSteps >= 0, "warmup_steps", WarmupSteps, "must be >= 0");
        Check(NumEpochs > 0 || MaxSteps > 0, "num_epochs", NumEpochs, "must be > 0 (or set max_steps)");
        Check(MaxSteps == -1 || MaxSteps > 0, "max_steps", MaxSteps, "must be -1 or > 0");
        Check(BatchSize >= 1, "batch_size", BatchSize, "must be >= 1");
        Check(GradAccum >= 1, "grad_accum", GradAccum, "must be >= 1");
        Check(MaxGradNorm >= 0, "max_grad_norm", MaxGradNorm, "must be >= 0");
        Check(MaxLength >= 2, "max_length", MaxLength, "must be >= 2");
        Check(LoggingSteps >= 1, "logging_steps", LoggingSteps, "must be >= 1");
        Check(EvalSteps >= 0, "eval_steps", EvalSteps, "must be >= 0");
        Check(SaveSteps >= 0, "save_steps", SaveSteps, "must be >= 0");
        Check(EvalSplit is >= 0 and < 1, "eval_split", EvalSplit, "must be in [0, 1)");
        Check(EvalData is null || EvalData.Trim().Length > 0, "eval_data", EvalData ?? "", "must be a dataset file path");
        Check(Threads >= 0, "threads", Threads, "must be >= 0");
        Check(!(Full && InitAdapter != null), "init_adapter", InitAdapter ?? "", "cannot be combined with full fine-tuning");
        Check(!(Full && ModulesToSave != null), "modules_to_save", string.Join(",", ModulesToSave ?? []), "cannot be combined with full fine-tuning (every module is trained)");
        if (ModulesToSave != null)
            foreach (var m in ModulesToSave)
                Check(!string.IsNullOrWhiteSpace(m), "modules_to_save", string.Join(",", ModulesToSave), "contains an empty module name");
        Check(ResumeFromCheckpoint is null || ResumeFromCheckpoint.Trim().Length > 0, "resume_from_checkpoint", ResumeFromCheckpoint ?? "", "must be a checkpoint folder or \"latest\"");
        LrSchedule.ParseKind(LrScheduler);
    }

    /// <summary>The PEFT LoraConfig these options describe.</summary>
    public LoraOptions ToLoraOptions() => new()
    {
        R = LoraR, LoraAlpha = LoraAlpha, LoraDropout = LoraDropout, TargetModules = TargetModules, UseRslora = UseRslora,
        ModulesToSave = ModulesToSave,
    };

    /// <summary>The data options (batching, packing, split, template) these options describe; no split with eval_data.</summary>
    public SftDataOptions ToDataOptions() => new()
    {
        MaxLength = MaxLength, Packing = Packing, Seed = Seed, EvalFraction = EvalData != null ? 0 : EvalSplit, Template = Template, BatchSize = BatchSize,
    };

    /// <summary>Every settable key, in kebab case (the CLI option names).</summary>
    public static IReadOnlyList<string> Keys { get; } =
    [
        "model", "data", "output", "tokenizer", "full", "init-adapter", "lora-r", "lora-alpha", "lora-dropout", "target-modules",
        "use-rslora", "learning-rate", "weight-decay", "adam-beta1", "adam-beta2", "adam-epsilon", "lr-scheduler", "warmup-steps",
        "num-epochs", "max-steps", "batch-size", "grad-accum", "max-grad-norm", "max-length", "packing", "seed", "no-shuffle",
        "logging-steps", "eval-steps", "save-steps", "eval-split", "template", "threads", "gradient-checkpointing",
        "modules-to-save", "resume-from-checkpoint", "eval-data", "eval-on-start",
    ];

    /// <summary>The keys that are booleans (CLI flags).</summary>
    public static IReadOnlyList<string> BooleanKeys { get; } = ["full", "use-rslora", "packing", "no-shuffle", "gradient-checkpointing", "eval-on-start"];

    /// <summary>Normalises a key: lower case, '_' to '-'; a few TrainingArguments/LLaMA-Factory aliases map to ours.</summary>
    public static string NormalizeKey(string key)
    {
        var k = key.Trim().ToLowerInvariant().Replace('_', '-');
        return k switch
        {
            "model-name-or-path" => "model",
            "dataset" => "data",
            "eval-dataset" => "eval-data",
            "output-dir" => "output",
            "lora-rank" => "lora-r",
            "lora-target" => "target-modules",
            "lr-scheduler-type" => "lr-scheduler",
            "num-train-epochs" => "num-epochs",
            "per-device-train-batch-size" => "batch-size",
            "gradient-accumulation-steps" => "grad-accum",
            "cutoff-len" => "max-length",
            "val-size" => "eval-split",
            "adapter-name-or-path" => "init-adapter",
            "additional-target" => "modules-to-save",
            _ => k,
        };
    }

    /// <summary>
    /// Applies settings (key → value; keys in snake or kebab case) on top of <paramref name="baseline"/>. Unknown keys
    /// and unparsable values throw ArgumentException naming <paramref name="source"/>, the key and the value.
    /// </summary>
    public static SftOptions FromSettings(IEnumerable<KeyValuePair<string, string>> settings, string source, SftOptions? baseline = null)
    {
        var o = baseline ?? new SftOptions();
        foreach (var (rawKey, value) in settings)
        {
            var key = NormalizeKey(rawKey);
            int I() => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
                : throw new ArgumentException($"{source}: {rawKey} = '{value}' is not an integer");
            double D() => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new ArgumentException($"{source}: {rawKey} = '{value}' is not a number");
            bool B() => value.Trim().ToLowerInvariant() switch
            {
                "true" or "yes" or "1" or "on" => true,
                "false" or "no" or "0" or "off" => false,
                _ => throw new ArgumentException($"{source}: {rawKey} = '{value}' is not a boolean (true/false)"),
            };
            o = key switch
            {
                "model" => o with { Model = value },
                "data" => o with { Data = value },
                "output" => o with { Output = value },
                "tokenizer" => o with { Tokenizer = value },
                "full" => o with { Full = B() },
                "init-adapter" => o with { InitAdapter = value },
                "lora-r" => o with { LoraR = I() },
                "lora-alpha" => o with { LoraAlpha = D() },
                "lora-dropout" => o with { LoraDropout = D() },
                "target-modules" => o with { TargetModules = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "use-rslora" => o with { UseRslora = B() },
                "learning-rate" => o with { LearningRate = D() },
                "weight-decay" => o with { WeightDecay = D() },
                "adam-beta1" => o with { AdamBeta1 = D() },
                "adam-beta2" => o with { AdamBeta2 = D() },
                "adam-epsilon" => o with { AdamEpsilon = D() },
                "lr-scheduler" => o with { LrScheduler = value },
                "warmup-steps" => o with { WarmupSteps = I() },
                "num-epochs" => o with { NumEpochs = D() },
                "max-steps" => o with { MaxSteps = I() },
                "batch-size" => o with { BatchSize = I() },
                "grad-accum" => o with { GradAccum = I() },
                "max-grad-norm" => o with { MaxGradNorm = D() },
                "max-length" => o with { MaxLength = I() },
                "packing" => o with { Packing = B() },
                "seed" => o with { Seed = I() },
                "no-shuffle" => o with { NoShuffle = B() },
                "logging-steps" => o with { LoggingSteps = I() },
                "eval-steps" => o with { EvalSteps = I() },
                "save-steps" => o with { SaveSteps = I() },
                "eval-split" => o with { EvalSplit = D() },
                "eval-data" => o with { EvalData = value },
                "eval-on-start" => o with { EvalOnStart = B() },
                "template" => o with { Template = value },
                "threads" => o with { Threads = I() },
                "gradient-checkpointing" => o with { GradientCheckpointing = B() },
                "modules-to-save" => o with { ModulesToSave = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "resume-from-checkpoint" => o with { ResumeFromCheckpoint = value.Trim().ToLowerInvariant() is "false" or "no" or "" ? null : value },
                _ => throw new ArgumentException($"{source}: unknown option '{rawKey}' (known: {string.Join(", ", Keys)})"),
            };
        }
        return o;
    }

    /// <summary>
    /// Reads a YAML mapping of option keys (LLaMA-Factory style): scalars, or sequences (joined with ',', for
    /// target_modules). Throws InvalidDataException naming the file for anything else.
    /// </summary>
    public static List<KeyValuePair<string, string>> ReadYaml(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"config file not found: {path}", path);
        var yaml = new YamlDotNet.RepresentationModel.YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            yaml.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new InvalidDataException($"{path}: invalid YAML at line {e.Start.Line}: {e.Message}", e);
        }
        var result = new List<KeyValuePair<string, string>>();
        if (yaml.Documents.Count == 0) return result;
        if (yaml.Documents[0].RootNode is not YamlDotNet.RepresentationModel.YamlMappingNode map)
            throw new InvalidDataException($"{path}: the config must be a mapping of option: value");
        foreach (var (k, v) in map.Children)
        {
            var key = ((YamlDotNet.RepresentationModel.YamlScalarNode)k).Value ?? "";
            string value = v switch
            {
                YamlDotNet.RepresentationModel.YamlScalarNode s => s.Value ?? "",
                YamlDotNet.RepresentationModel.YamlSequenceNode seq => string.Join(",", seq.Children.Select(c =>
                    c is YamlDotNet.RepresentationModel.YamlScalarNode cs ? cs.Value ?? ""
                    : throw new InvalidDataException($"{path}: line {c.Start.Line}: '{key}' must be a list of scalars"))),
                _ => throw new InvalidDataException($"{path}: line {v.Start.Line}: '{key}' must be a scalar or a list"),
            };
            result.Add(new(key, value));
        }
        return result;
    }
}
