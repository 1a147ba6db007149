// The causal-LM training loop shared by SFT and pretraining, after transformers' Trainer: gradient accumulation
// normalised by the target tokens of the whole accumulated batch (num_items_in_batch), global-norm clipping, AdamW
// with a LambdaLR schedule, metrics as JSONL, held-out loss/perplexity (a split or an eval file; eval_on_start), atomic checkpoints, resuming from a checkpoint
// (TrainingArguments.resume_from_checkpoint: weights, AdamW moments and steps, schedule, data position, dropout stream)
// and the final save.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Loft.Autograd.Llama;
using Loft.Formats;
using Loft.Formats.HuggingFace;
using Loft.Formats.SafeTensors;
using Loft.Nn.Optim;
using Loft.Peft.Lora;
using Loft.Training.Data;

namespace Loft.Training.Sft;

/// <summary>Progress of one optimiser step, for a progress bar.</summary>
public sealed record TrainerProgress(int Step, int TotalSteps, double Epoch, double Loss, double LearningRate,
    double GradNorm, long Tokens, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Eta);

/// <summary>A held-out evaluation: mean loss over the target tokens and its perplexity.</summary>
public sealed record EvalResult(int Step, double Loss, double Perplexity, long TargetTokens);

/// <summary>What a finished run did.</summary>
public sealed record TrainResult(int Steps, double LastLoss, EvalResult? LastEval, string OutputDir, IReadOnlyList<string> Checkpoints)
{
    /// <summary>The evaluation before the first step (eval_on_start), or null.</summary>
    public EvalResult? InitialEval { get; init; }
}

/// <summary>The loss or gradient norm became NaN or infinite; the last checkpoint on disk is untouched.</summary>
public sealed class TrainingDivergedException(int step, string message) : Exception(message)
{
    /// <summary>The optimiser step (1-based) whose loss or gradients were not finite.</summary>
    public int Step { get; } = step;
}

public abstract class TrainerBase
{
    public const string MetricsFileName = "metrics.jsonl";
    public const string TrainerStateFileName = "trainer_state.json";
    public const string OptimizerFileName = "optimizer.safetensors";
    /// <summary>The prefix of checkpoint folders: OUTPUT/checkpoint-STEP.</summary>
    public const string CheckpointPrefix = "checkpoint-";

    readonly SftBatcher _train;
    readonly SftBatcher? _eval;
    readonly List<string> _checkpoints = [];
    long _consumed;          // micro-batches taken from the data stream so far (the data-order position)
    string? _lastCheckpoint; // the newest complete checkpoint of this run (written or resumed from)
    double _epoch;

    protected TrainerBase(TrainableLlama model, SftOptions options, SftBatcher train, SftBatcher? eval)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(train);
        options.Validate();
        if (string.IsNullOrEmpty(options.Output)) throw new ArgumentException("output: the output folder is required");
        if (train.BatchesPerEpoch == 0) throw new ArgumentException("the training set yields no batch (empty, or fewer rows than batch_size with drop_last)");
        if (options.EvalOnStart && eval == null)
            throw new ArgumentException("eval_on_start: there is no held-out set to evaluate (eval_split is 0 and no eval_data is given)");
        Model = model;
        Options = options;
        _train = train;
        _eval = eval;
        UpdatesPerEpoch = (train.BatchesPerEpoch + options.GradAccum - 1) / options.GradAccum;
        TotalSteps = options.MaxSteps > 0 ? options.MaxSteps : Math.Max(1, (int)Math.Ceiling(options.NumEpochs * UpdatesPerEpoch - 1e-9));
        Optimizer = new AdamW(model.Parameters, new AdamWOptions
        {
            Lr = options.LearningRate, WeightDecay = options.WeightDecay, Beta1 = options.AdamBeta1, Beta2 = options.AdamBeta2, Eps = options.AdamEpsilon,
        });
        Scheduler = new LrScheduler(Optimizer, new LrSchedule
        {
            Kind = LrSchedule.ParseKind(options.LrScheduler), WarmupSteps = options.WarmupSteps, TrainingSteps = TotalSteps,
        });
    }

    public TrainableLlama Model { get; }
    public SftOptions Options { get; }
    public AdamW Optimizer { get; }
    public LrScheduler Scheduler { get; }
    /// <summary>Optimiser steps per epoch: ceil(micro-batches / grad_accum).</summary>
    public int UpdatesPerEpoch { get; }
    /// <summary>Optimiser steps of the run: max_steps, or ceil(num_epochs × steps per epoch).</summary>
    public int TotalSteps { get; }
    /// <summary>Steps done.</summary>
    public int GlobalStep { get; private set; }
    /// <summary>The checkpoint folder this run resumed from, or null.</summary>
    public string? ResumedFrom { get; private set; }
    /// <summary>Called after every optimiser step.</summary>
    public Action<TrainerProgress>? Progress { get; set; }
    /// <summary>Called after every evaluation.</summary>
    public Action<EvalResult>? Evaluated { get; set; }
    /// <summary>Test hook: may replace the loss of a step (1-based) before the finiteness check.</summary>
    internal Func<int, double, double>? LossFilter { get; set; }

    /// <summary>The config of the model being trained (for the full-model save).</summary>
    protected ModelConfig Config => Model.Config;

    /// <summary>Runs the training loop to <see cref="TotalSteps"/> and saves the final model into the output folder.</summary>
    public TrainResult Train()
    {
        var output = Options.Output!;
        Directory.CreateDirectory(output);
        if (Options.ResumeFromCheckpoint is { } resume && ResumedFrom == null && GlobalStep == 0)
            ResumeFrom(ResolveCheckpoint(resume, output));
        var metricsPath = Path.Combine(output, MetricsFileName);
        if (ResumedFrom != null) KeepMetricsUpTo(metricsPath, GlobalStep);
        using var metrics = new StreamWriter(metricsPath, append: ResumedFrom != null) { AutoFlush = true };
        var clock = Stopwatch.StartNew();
        int firstStep = GlobalStep;
        using var stream = MicroBatches(_consumed).GetEnumerator();
        var micro = new List<(SftBatch Batch, double Epoch)>(Options.GradAccum);
        double lastLoss = double.NaN, epoch = _epoch;
        EvalResult? lastEval = null, initialEval = null;
        if (Options.EvalOnStart && GlobalStep < TotalSteps)
        {
            // transformers' eval_on_start: one evaluation before the first update, logged at the current step (0 when fresh).
            initialEval = Evaluate();
            WriteEval(metrics, initialEval, epoch);
            Evaluated?.Invoke(initialEval);
        }
        while (GlobalStep < TotalSteps)
        {
            micro.Clear();
            for (int i = 0; i < Options.GradAccum && stream.MoveNext(); i++)
            {
                micro.Add(stream.Current);
                _consumed++;
                // An epoch's last micro-batch closes the accumulation (transformers steps at the epoch end).
                if (stream.Current.Epoch == Math.Floor(stream.Current.Epoch) && stream.Current.Epoch > 0) break;
            }
            int step = GlobalStep + 1;
            var stepClock = Stopwatch.StartNew();
            long targets = 0, tokens = 0;
            foreach (var (b, _) in micro) targets += b.TargetTokenCount;
            double loss = 0;
            if (targets > 0)
                foreach (var (b, e) in micro)
                {
                    epoch = e;
                    foreach (int m in b.AttentionMask) tokens += m;
                    var batch = ToCausalLm(b, targets);
                    if (batch.TargetCount > 0) loss += Model.ForwardBackward(batch);
                }
            if (LossFilter != null) loss = LossFilter(step, loss);
            double lr = Optimizer.Lr;
            double gradNorm = Options.MaxGradNorm > 0
                ? ClipGradNorm.Clip(Model.Parameters, Options.MaxGradNorm)
                : ClipGradNorm.TotalNorm(Model.Parameters);
            if (!double.IsFinite(loss) || !double.IsFinite(gradNorm))
            {
                var last = _lastCheckpoint != null ? $"the last checkpoint, {_lastCheckpoint}, is intact (resume with --resume-from-checkpoint)" : "no checkpoint was written yet";
                throw new TrainingDivergedException(step,
                    $"step {step}: the training {(double.IsFinite(loss) ? $"gradient norm is {gradNorm}" : $"loss is {loss}")} (learning rate {lr.ToString("g4", CultureInfo.InvariantCulture)}); " +
                    $"training stopped. Hint: lower the learning rate (--learning-rate), keep --max-grad-norm on, or check the data for broken records; {last}.");
            }
            Optimizer.Step();
            Scheduler.Step();
            Model.ZeroGrad();
            GlobalStep = step;
            _epoch = epoch;
            lastLoss = loss;
            double seconds = stepClock.Elapsed.TotalSeconds;
            double tps = seconds > 0 ? tokens / seconds : 0;
            var elapsed = clock.Elapsed;
            if (step % Options.LoggingSteps == 0 || step == TotalSteps)
                WriteJson(metrics, new JsonObject
                {
                    ["step"] = step, ["epoch"] = Math.Round(epoch, 4), ["loss"] = loss, ["lr"] = lr, ["grad_norm"] = gradNorm,
                    ["tokens"] = tokens, ["tokens_per_second"] = Math.Round(tps, 2), ["elapsed"] = Math.Round(elapsed.TotalSeconds, 3),
                });
            Progress?.Invoke(new TrainerProgress(step, TotalSteps, epoch, loss, lr, gradNorm, tokens, tps, elapsed,
                TimeSpan.FromSeconds(elapsed.TotalSeconds / (step - firstStep) * (TotalSteps - step))));
            if (_eval != null && ((Options.EvalSteps > 0 && step % Options.EvalSteps == 0) || step == TotalSteps))
            {
                lastEval = Evaluate();
                WriteEval(metrics, lastEval, epoch);
                Evaluated?.Invoke(lastEval);
            }
            if (Options.SaveSteps > 0 && step % Options.SaveSteps == 0 && step < TotalSteps)
            {
                _lastCheckpoint = SaveCheckpoint(epoch);
                _checkpoints.Add(_lastCheckpoint);
            }
        }
        SaveModel(output);
        WriteTrainerState(Path.Combine(output, TrainerStateFileName), epoch);
        return new TrainResult(GlobalStep, lastLoss, lastEval, output, _checkpoints) { InitialEval = initialEval };
    }

    static void WriteEval(StreamWriter metrics, EvalResult e, double epoch) => WriteJson(metrics, new JsonObject
    {
        ["step"] = e.Step, ["epoch"] = Math.Round(epoch, 4), ["eval_loss"] = e.Loss, ["eval_perplexity"] = e.Perplexity,
        ["eval_tokens"] = e.TargetTokens,
    });

    /// <summary>
    /// Loads an eval_data file with <paramref name="load"/> (the training data's reader and rules). A missing file throws
    /// FileNotFoundException; the reader's DatasetFormatException (empty file, malformed record: it names the file and
    /// line) passes through as it is, and InvalidDataException (e.g. no example left within max_length; it names the
    /// file) comes back prefixed with "eval_data: ".
    /// </summary>
    protected static T LoadEvalData<T>(string path, Func<string, T> load)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(load);
        if (!File.Exists(path)) throw new FileNotFoundException($"eval_data: eval dataset file not found: {path}", path);
        try
        {
            return load(path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException("eval_data: " + e.Message, e);
        }
    }

    /// <summary>The held-out loss (mean over all eval target tokens) and perplexity, without gradients.</summary>
    public EvalResult Evaluate()
    {
        if (_eval == null) throw new InvalidOperationException("there is no held-out set (eval_split is 0 and no eval_data is given)");
        double sum = 0;
        long count = 0;
        foreach (var b in _eval.InOrder())
        {
            var batch = ToCausalLm(b, null);
            if (batch.TargetCount == 0) continue;
            sum += Model.ComputeLoss(batch) * batch.TargetCount;
            count += batch.TargetCount;
        }
        if (count == 0) throw new InvalidOperationException("the held-out set has no target tokens");
        double loss = sum / count;
        return new EvalResult(GlobalStep, loss, Math.Exp(loss), count);
    }

    /// <summary>Micro-batches over epochs from position <paramref name="start"/> (micro-batches already consumed), with the
    /// fractional epoch reached after each (an integer at an epoch's end). Epoch e's order is the batcher's seeded
    /// permutation for e (the identity with no_shuffle), so a position alone restores the data order.</summary>
    IEnumerable<(SftBatch Batch, double Epoch)> MicroBatches(long start)
    {
        int n = _train.BatchesPerEpoch, size = _train.Options.BatchSize;
        for (long epoch = start / n; ; epoch++)
        {
            if (epoch > int.MaxValue) throw new InvalidOperationException($"epoch {epoch} is out of range");
            int[] order = Options.NoShuffle ? [.. Enumerable.Range(0, _train.RowCount)] : _train.EpochOrder((int)epoch);
            for (int b = epoch == start / n ? (int)(start % n) : 0; b < n; b++)
            {
                int first = b * size, count = Math.Min(size, order.Length - first);
                yield return (_train.Collate(order.AsSpan(first, count)), epoch + (double)(b + 1) / n);
            }
        }
    }

    static CausalLmBatch ToCausalLm(SftBatch b, long? normaliser) =>
        new(b.B, b.T, b.InputIds, b.AttentionMask, b.Labels, b.PositionIds, b.SegmentIds) { LossNormaliser = normaliser };

    static void WriteJson(StreamWriter w, JsonObject o) => w.WriteLine(o.ToJsonString());

    /// <summary>Writes OUTPUT/checkpoint-STEP (model or adapter, optimizer state, trainer state) through a temporary
    /// folder renamed at the end, so an interrupted save never leaves a partial checkpoint: a crash leaves only a
    /// ".tmp-checkpoint-STEP" folder, which <see cref="FindLatestCheckpoint"/> ignores.</summary>
    string SaveCheckpoint(double epoch)
    {
        var output = Options.Output!;
        var final = Path.Combine(output, CheckpointPrefix + GlobalStep.ToString(CultureInfo.InvariantCulture));
        var tmp = Path.Combine(output, ".tmp-" + CheckpointPrefix + GlobalStep.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        SaveModel(tmp);
        var writer = new SafeTensorsWriter();
        for (int i = 0; i < Model.Parameters.Count; i++)
        {
            var (m, v) = Optimizer.Moments(i);
            if (m.IsEmpty) continue;
            var p = Model.Parameters[i];
            writer.Add(p.Name + ".exp_avg", (int[])p.Shape.Clone(), m);
            writer.Add(p.Name + ".exp_avg_sq", (int[])p.Shape.Clone(), v);
        }
        writer.Metadata["step"] = Optimizer.ParameterStep(0).ToString(CultureInfo.InvariantCulture);
        writer.Save(Path.Combine(tmp, OptimizerFileName));
        WriteTrainerState(Path.Combine(tmp, TrainerStateFileName), epoch);
        if (Directory.Exists(final))
        {
            // Replace an older save of the same step (a re-run): set it aside first so a crash keeps one of the two.
            var old = Path.Combine(output, ".old-" + CheckpointPrefix + GlobalStep.ToString(CultureInfo.InvariantCulture));
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            Directory.Move(final, old);
            Directory.Move(tmp, final);
            Directory.Delete(old, recursive: true);
        }
        else Directory.Move(tmp, final);
        return final;
    }

    void WriteTrainerState(string path, double epoch)
    {
        var state = new JsonObject
        {
            ["global_step"] = GlobalStep, ["epoch"] = epoch, ["max_steps"] = TotalSteps, ["learning_rate"] = Optimizer.Lr,
            ["base_learning_rate"] = Scheduler.BaseLr, ["lr_scheduler_type"] = Options.LrScheduler, ["seed"] = Options.Seed,
            ["train_batch_size"] = Options.BatchSize, ["gradient_accumulation_steps"] = Options.GradAccum,
            ["lr_scheduler_step"] = Scheduler.StepCount, ["micro_batches"] = _consumed, ["training_passes"] = Model.TrainingPasses,
            ["trainable_parameters"] = Model.Parameters.Count, ["adapter"] = Model.Adapter != null,
        };
        File.WriteAllText(path, state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// The newest complete checkpoint in <paramref name="outputDir"/>: the checkpoint-N folder with the largest N that
    /// holds trainer_state.json (temporary ".tmp-checkpoint-N" folders of an interrupted save are ignored); null if none.
    /// </summary>
    public static string? FindLatestCheckpoint(string outputDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputDir);
        if (!Directory.Exists(outputDir)) return null;
        string? best = null;
        long bestStep = -1;
        foreach (var dir in Directory.EnumerateDirectories(outputDir))
        {
            var m = CheckpointName.Match(Path.GetFileName(dir));
            if (!m.Success || !long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long step)) continue;
            if (!File.Exists(Path.Combine(dir, TrainerStateFileName))) continue;
            if (step > bestStep) { bestStep = step; best = dir; }
        }
        return best;
    }

    static readonly Regex CheckpointName = new("^" + CheckpointPrefix + "([0-9]+)$", RegexOptions.CultureInvariant);

    /// <summary>resume_from_checkpoint's value as a folder: "latest" or "true" is the newest checkpoint in the output folder.</summary>
    public static string ResolveCheckpoint(string value, string outputDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        if (value.Trim().ToLowerInvariant() is "latest" or "true")
            return FindLatestCheckpoint(outputDir)
                ?? throw new DirectoryNotFoundException($"resume_from_checkpoint {value}: no complete {CheckpointPrefix}N folder in {outputDir} (checkpoints are written every save_steps steps)");
        if (!Directory.Exists(value)) throw new DirectoryNotFoundException($"resume_from_checkpoint: checkpoint folder not found: {value}");
        return value;
    }

    /// <summary>
    /// Restores a checkpoint written by this trainer before training (transformers' _load_from_checkpoint,
    /// _load_optimizer_and_scheduler, _load_rng_state): the adapter (or full weights), the AdamW moments and steps, the
    /// learning-rate schedule position, the data position and the dropout stream, so the run continues exactly as if it
    /// had not stopped. A checkpoint for another model, adapter layout or rank throws InvalidDataException naming it.
    /// </summary>
    public void ResumeFrom(string checkpointDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(checkpointDir);
        if (GlobalStep != 0 || ResumedFrom != null) throw new InvalidOperationException($"resume_from_checkpoint {checkpointDir}: the trainer has already run {GlobalStep} steps; resume a fresh trainer");
        if (!Directory.Exists(checkpointDir)) throw new DirectoryNotFoundException($"resume_from_checkpoint: checkpoint folder not found: {checkpointDir}");
        string Need(string name)
        {
            var path = Path.Combine(checkpointDir, name);
            if (!File.Exists(path)) throw new InvalidDataException($"checkpoint {checkpointDir}: missing {name} (not a complete {CheckpointPrefix}N folder of `loft sft`?)");
            return path;
        }
        var statePath = Need(TrainerStateFileName);
        JsonObject state;
        try { state = JsonNode.Parse(File.ReadAllText(statePath)) as JsonObject ?? throw new InvalidDataException($"{statePath}: expected a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{statePath}: invalid JSON: {e.Message}", e); }
        long StateInt(string key) => state[key] is JsonValue v && v.TryGetValue(out long x) && x >= 0 ? x
            : throw new InvalidDataException($"{statePath}: '{key}' is missing or not a non-negative integer");
        long step = StateInt("global_step");
        if (step < 1 || step > int.MaxValue) throw new InvalidDataException($"{statePath}: global_step {step} is out of range");
        long consumed = StateInt("micro_batches"), passes = StateInt("training_passes");
        double epoch = state["epoch"] is JsonValue ev && ev.TryGetValue(out double e2) ? e2 : 0;

        if (Model.Adapter is { } adapter) RestoreAdapter(adapter, checkpointDir, Need(LoraAdapterFile.WeightsFileName));
        else RestoreFullWeights(Need("model.safetensors"));
        RestoreOptimizer(Need(OptimizerFileName), step);
        for (long i = 0; i < step; i++) Scheduler.Step();   // LambdaLR: lr = base · factor(step), as after `step` updates
        Model.TrainingPasses = passes;
        _consumed = consumed;
        _epoch = epoch;
        GlobalStep = (int)step;
        ResumedFrom = checkpointDir;
        _lastCheckpoint = checkpointDir;
    }

    void RestoreAdapter(LoraAdapter live, string dir, string weightsPath)
    {
        if (!File.Exists(Path.Combine(dir, LoraConfigJson.FileName)))
            throw new InvalidDataException($"checkpoint {dir}: missing {LoraConfigJson.FileName}");
        var saved = LoraAdapterFile.Load(dir);
        foreach (var m in live.Modules)
        {
            if (!saved.TryGetModule(m.Module, out var s))
                throw new InvalidDataException($"checkpoint {dir}: {weightsPath} has no '{LoraAdapterFile.PeftName(m.Module, "lora_A")}': the checkpoint adapts other modules than this run (target_modules)");
            if (s.Rank != m.Rank || s.InFeatures != m.InFeatures || s.OutFeatures != m.OutFeatures)
                throw new InvalidDataException($"checkpoint {dir}: '{LoraAdapterFile.PeftName(m.Module, "lora_A")}' is [{s.Rank}, {s.InFeatures}] and lora_B [{s.OutFeatures}, {s.Rank}], " +
                    $"but this run's adapter has [{m.Rank}, {m.InFeatures}] and [{m.OutFeatures}, {m.Rank}] (a different LoRA rank or base model?)");
            if (s.Scaling != m.Scaling)
                throw new InvalidDataException($"checkpoint {dir}: LoRA module '{m.Module}' has scaling {s.Scaling}, this run {m.Scaling} (a different lora_alpha or use_rslora)");
        }
        if (saved.Modules.Count != live.Modules.Count)
        {
            var extra = saved.Modules.First(s => !live.TryGetModule(s.Module, out _));
            throw new InvalidDataException($"checkpoint {dir}: LoRA module '{extra.Module}' is not adapted in this run (target_modules differ)");
        }
        var liveSaved = live.SavedModules.ToDictionary(s => s.TensorName, StringComparer.Ordinal);
        foreach (var s in saved.SavedModules)
            if (!liveSaved.ContainsKey(s.TensorName))
                throw new InvalidDataException($"checkpoint {dir}: modules_to_save tensor '{LoraAdapterFile.PeftSavedName(s.TensorName)}' is not trained in this run (modules_to_save differ)");
        foreach (var (name, s) in liveSaved)
        {
            var c = saved.SavedModules.FirstOrDefault(x => x.TensorName == name)
                ?? throw new InvalidDataException($"checkpoint {dir}: {weightsPath} has no modules_to_save tensor '{LoraAdapterFile.PeftSavedName(name)}' (modules_to_save differ)");
            if (!c.Shape.AsSpan().SequenceEqual(s.Shape))
                throw new InvalidDataException($"checkpoint {dir}: '{LoraAdapterFile.PeftSavedName(name)}' is [{string.Join(", ", c.Shape)}], this run's [{string.Join(", ", s.Shape)}] (a different base model?)");
        }
        // Copy into the live arrays: the trainable parameters share their storage.
        foreach (var m in live.Modules)
        {
            var s = saved[m.Module];
            s.A.CopyTo(m.A, 0);
            s.B.CopyTo(m.B, 0);
        }
        foreach (var c in saved.SavedModules) c.Data.CopyTo(liveSaved[c.TensorName].Data, 0);
    }

    void RestoreFullWeights(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        foreach (var p in Model.Parameters)
        {
            if (!file.Contains(p.Name)) throw new InvalidDataException($"{path}: missing tensor '{p.Name}' (a checkpoint of a different model?)");
            var info = file.GetInfo(p.Name);
            if (!info.Shape.AsSpan().SequenceEqual(p.Shape))
                throw new InvalidDataException($"{path}: tensor '{p.Name}' is {info.ShapeText}, the model's [{string.Join(", ", p.Shape)}] (a checkpoint of a different model?)");
            file.GetFloat32(p.Name).CopyTo(p.Value.Span);
        }
        if (file.Tensors.Count != Model.Parameters.Count)
        {
            var names = Model.Parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            var extra = file.Tensors.First(t => !names.Contains(t.Name));
            throw new InvalidDataException($"{path}: tensor '{extra.Name}' is not a parameter of this model (a checkpoint of a different model?)");
        }
    }

    void RestoreOptimizer(string path, long globalStep)
    {
        using var file = SafeTensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("step", out var stepText) || !long.TryParse(stepText, NumberStyles.None, CultureInfo.InvariantCulture, out long step))
            throw new InvalidDataException($"{path}: the metadata has no integer 'step'");
        if (step > globalStep) throw new InvalidDataException($"{path}: optimizer step {step} is past the checkpoint's global_step {globalStep}");
        for (int i = 0; i < Model.Parameters.Count; i++)
        {
            var p = Model.Parameters[i];
            string m = p.Name + ".exp_avg", v = p.Name + ".exp_avg_sq";
            if (!file.Contains(m) || !file.Contains(v))
            {
                if (step == 0) continue;
                throw new InvalidDataException($"{path}: missing '{(file.Contains(m) ? v : m)}' (the checkpoint was written for other trainable parameters)");
            }
            if (file.GetInfo(m).ElementCount != p.Length || file.GetInfo(v).ElementCount != p.Length)
                throw new InvalidDataException($"{path}: '{m}' is {file.GetInfo(m).ShapeText}, the parameter [{string.Join(", ", p.Shape)}] (a different LoRA rank or model?)");
            Optimizer.LoadState(i, step, file.GetFloat32(m), file.GetFloat32(v));
        }
    }

    // Drops metrics lines past the resumed step (a run that went further before it stopped logged them).
    static void KeepMetricsUpTo(string path, int step)
    {
        if (!File.Exists(path)) return;
        var kept = new List<string>();
        foreach (var line in File.ReadAllLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                if (JsonNode.Parse(line) is JsonObject o && o["step"] is JsonValue v && v.TryGetValue(out int s) && s > step) continue;
            }
            catch (JsonException) { continue; }   // a line cut short by the crash
            kept.Add(line);
        }
        File.WriteAllLines(path, kept);
    }

    /// <summary>Saves the trained weights into <paramref name="folder"/>: the PEFT adapter (adapter_config.json,
    /// adapter_model.safetensors) for LoRA, or an HF model folder (config.json, model.safetensors) for full training.</summary>
    protected virtual void SaveModel(string folder)
    {
        if (Model.Adapter is { } adapter)
        {
            LoraAdapterFile.Save(adapter, folder);
            return;
        }
        Directory.CreateDirectory(folder);
        var config = Config with { TorchDtype = "float32" };
        config.Save(Path.Combine(folder, "config.json"));
        var writer = new SafeTensorsWriter();
        foreach (var p in Model.Parameters)
            writer.Add(p.Name, (int[])p.Shape.Clone(), p.Value);
        writer.Save(Path.Combine(folder, "model.safetensors"));
        CopyTokenizerFiles(folder);
    }

    /// <summary>The folder whose tokenizer files go next to a saved full model (null: none).</summary>
    protected virtual string? TokenizerFolder => null;

    void CopyTokenizerFiles(string folder)
    {
        if (TokenizerFolder is not { } src || !Directory.Exists(src)) return;
        foreach (var name in (string[])["tokenizer.json", "tokenizer.model", "tokenizer.bin", "tokenizer_config.json", "special_tokens_map.json"])
        {
            var from = Path.Combine(src, name);
            if (File.Exists(from)) File.Copy(from, Path.Combine(folder, name), overwrite: true);
        }
    }
}
