// A LLaMA causal LM (HF transformers LlamaForCausalLM) on the autograd tape, for training: full fine-tuning (every
// checkpoint tensor trainable; tied embeddings share one gradient) or LoRA (PEFT) with the base frozen and
// gradient-free, lora_dropout in training passes, and modules_to_save trained as full copies (ModulesToSaveWrapper).
// Optional per-layer gradient checkpointing (Chen et al. 2016, torch.utils.checkpoint).
using Loft.Autograd.Functions;
using Loft.Formats;
using Loft.Formats.HuggingFace;
using Loft.Nn;
using Loft.Nn.Losses;
using Loft.Peft.Lora;
using K = Loft.Tensors.Kernels;

namespace Loft.Autograd.Llama;

public sealed record TrainableLlamaOptions
{
    /// <summary>Recompute each decoder layer's forward pass during backward instead of keeping its activations
    /// (transformers gradient_checkpointing_enable); gradients are identical.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>Token rows per chunk of the fused LM-head cross-entropy (0: chosen from the vocabulary size, CrossEntropy.ChunkFor).</summary>
    public int LossChunk { get; init; } = CrossEntropy.DefaultChunk;

    /// <summary>Seed of the lora_dropout masks (the training seed): the same seed, the same masks at every pass.</summary>
    public int DropoutSeed { get; init; }

    public void Validate()
    {
        if (LossChunk < 0) throw new ArgumentOutOfRangeException(nameof(LossChunk), LossChunk, "LossChunk must be >= 1 (or 0: chosen from the vocabulary size)");
    }
}

public sealed class TrainableLlama
{
    /// <summary>One nn.Linear of a decoder layer, with its LoRA pair when adapted.</summary>
    sealed class Projection(Var weight, Var? bias, Var? loraA, Var? loraB, float scaling)
    {
        public readonly Var Weight = weight;
        public Var? Bias = bias, LoraA = loraA, LoraB = loraB;
        public float Scaling = scaling;
        /// <summary>lora_dropout probability, and this module's index among the LoRA modules (its mask stream).</summary>
        public double DropoutP;
        public int LoraIndex;

        public Var Apply(Tape tape, Var x, in Pass pass)
        {
            if (LoraA == null) return Linear.Apply(tape, x, Weight, Bias);
            if (!pass.Training || DropoutP == 0) return LoraLinear.Apply(tape, x, Weight, Bias, LoraA, LoraB!, Scaling);
            // peft: lora_B(lora_A(dropout(x))), a fresh mask per module and training pass.
            var mask = tape.ScratchUninitialized(x.Length);                                     // (rows, in), filled whole
            Dropout.FillMask(mask.Span, DropoutP, pass.Seed, Dropout.Stream(pass.Index, LoraIndex, pass.LoraModules));
            return LoraLinear.Apply(tape, x, Weight, Bias, LoraA, LoraB!, Scaling, mask);
        }

        public bool Trainable => Weight.RequiresGrad || (Bias?.RequiresGrad ?? false) || (LoraA?.RequiresGrad ?? false) || (LoraB?.RequiresGrad ?? false);
    }

    sealed class Layer
    {
        public required Var InputNorm, PostAttentionNorm;
        public required Projection Q, K, V, O, Gate, Up, Down;
        public IEnumerable<Projection> Projections => [Q, K, V, O, Gate, Up, Down];
        public bool Trainable => InputNorm.RequiresGrad || PostAttentionNorm.RequiresGrad || Projections.Any(p => p.Trainable);
    }

    /// <summary>What one forward pass is: training (dropout active) or evaluation, and the key of its dropout masks.</summary>
    readonly record struct Pass(bool Training, long Index, ulong Seed, int LoraModules);

    static readonly string[] ProjectionNames = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    readonly Var _embed, _norm, _head;
    readonly Dictionary<string, SavedModuleWeights> _saved = new(StringComparer.Ordinal);
    int _loraModules;
    readonly Layer[] _layers;
    readonly K.RopeTable _rope;
    readonly List<Parameter> _parameters = [];
    readonly Dictionary<string, Var> _vars = new(StringComparer.Ordinal);
    readonly Tape _layerTape = new();
    readonly float _eps;
    readonly int _nh, _nkv, _hs;

    TrainableLlama(ICheckpoint checkpoint, bool fullyTrainable, TrainableLlamaOptions? options, IReadOnlyList<SavedModuleWeights>? saved = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        foreach (var s in saved ?? []) _saved.Add(s.TensorName, s);
        Options = options ?? new TrainableLlamaOptions();
        Options.Validate();
        var c = checkpoint.Config;
        Config = c;
        if (c.HiddenAct != "silu") throw new NotSupportedException($"{checkpoint.SourcePath}: hidden_act '{c.HiddenAct}' is not supported (only silu)");
        _nh = c.NumAttentionHeads; _nkv = c.KeyValueHeads; _hs = c.HeadSize; _eps = (float)c.RmsNormEps;
        _rope = new K.RopeTable(Loft.Models.Llama.RopeFrequencies.For(c), c.MaxPositionEmbeddings);

        Var Load(string name)
        {
            if (!checkpoint.Contains(name)) throw new InvalidDataException($"{checkpoint.SourcePath}: missing tensor '{name}'");
            var shape = checkpoint.Shape(name);
            Var v;
            if (fullyTrainable)
            {
                var p = Parameter.Create(name, checkpoint.GetFloat32(name), shape);
                _parameters.Add(p);
                v = Var.FromParameter(p);
            }
            else v = Var.Constant(checkpoint.GetFloat32(name).ToArray(), shape, name);
            _vars[name] = v;
            return _saved.TryGetValue(name, out var s) ? Saved(s, shape) : v;
        }

        // A modules_to_save tensor: a trainable copy (sharing storage with the adapter's SavedModuleWeights) used in
        // place of the frozen base tensor, which stays untouched under its checkpoint name.
        Var Saved(SavedModuleWeights s, int[] baseShape)
        {
            if (!s.Shape.AsSpan().SequenceEqual(baseShape))
                throw new InvalidDataException($"modules_to_save tensor '{LoraAdapterFile.PeftSavedName(s.TensorName)}' has shape [{string.Join(", ", s.Shape)}] but the base tensor is [{string.Join(", ", baseShape)}]");
            var p = new Parameter(LoraAdapterFile.PeftSavedName(s.TensorName), s.Data, new float[s.Data.Length], (int[])s.Shape.Clone());
            _parameters.Add(p);
            var v = Var.FromParameter(p);
            _vars[p.Name] = v;
            return v;
        }

        _embed = Load("model.embed_tokens.weight");
        _layers = new Layer[c.NumHiddenLayers];
        for (int l = 0; l < _layers.Length; l++)
        {
            string pre = $"model.layers.{l}.";
            Projection P(string n) => new(Load(pre + n + ".weight"), checkpoint.Contains(pre + n + ".bias") ? Load(pre + n + ".bias") : null, null, null, 0f);
            _layers[l] = new Layer
            {
                InputNorm = Load(pre + "input_layernorm.weight"),
                PostAttentionNorm = Load(pre + "post_attention_layernorm.weight"),
                Q = P(ProjectionNames[0]), K = P(ProjectionNames[1]), V = P(ProjectionNames[2]), O = P(ProjectionNames[3]),
                Gate = P(ProjectionNames[4]), Up = P(ProjectionNames[5]), Down = P(ProjectionNames[6]),
            };
        }
        _norm = Load("model.norm.weight");
        // Tied: one tensor, one gradient buffer for both uses. With modules_to_save, PEFT wraps each module separately:
        // a saved lm_head is its own copy of the embeddings; a saved embed_tokens leaves the head on the frozen original.
        if (c.TieWordEmbeddings)
            _head = _saved.TryGetValue("lm_head.weight", out var sh) ? Saved(sh, _embed.Shape) : _vars["model.embed_tokens.weight"];
        else if (checkpoint.Contains("lm_head.weight")) _head = Load("lm_head.weight");
        else throw new InvalidDataException($"{checkpoint.SourcePath}: tie_word_embeddings is false but there is no 'lm_head.weight'");
        foreach (var name in _saved.Keys)
            if (!_vars.ContainsKey(LoraAdapterFile.PeftSavedName(name)))
                throw new NotSupportedException($"modules_to_save tensor '{name}' is not a tensor of the LLaMA model (embeddings, norms, projections, lm_head)");
        if (_embed.Shape[0] != c.VocabSize || _embed.Shape[1] != c.HiddenSize)
            throw new InvalidDataException($"{checkpoint.SourcePath}: model.embed_tokens.weight is [{string.Join(", ", _embed.Shape)}], config says [{c.VocabSize}, {c.HiddenSize}]");
    }

    /// <summary>Every checkpoint tensor trainable (full fine-tuning).</summary>
    public static TrainableLlama CreateFull(ICheckpoint checkpoint, TrainableLlamaOptions? options = null) => new(checkpoint, true, options);

    /// <summary>
    /// LoRA fine-tuning: the base is frozen (no gradient buffers); the adapter's A and B, and its modules_to_save copies,
    /// become the trainable parameters, named as PEFT saves them, and share storage with <paramref name="adapter"/>
    /// (which therefore always holds the current values and can be saved with <see cref="LoraAdapterFile.Save"/>).
    /// lora_dropout applies in <see cref="ForwardBackward"/> only (PEFT's train mode), with masks seeded by
    /// <see cref="TrainableLlamaOptions.DropoutSeed"/> and <see cref="TrainingPasses"/>.
    /// </summary>
    public static TrainableLlama CreateLora(ICheckpoint checkpoint, LoraAdapter adapter, TrainableLlamaOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        if (adapter.Options.Bias != "none")
            throw new NotSupportedException($"LoRA bias '{adapter.Options.Bias}' is not supported yet (only \"none\")");
        if (adapter.Options.UseDora) throw new NotSupportedException("use_dora is not supported");
        adapter.ValidateAgainst(checkpoint);
        var model = new TrainableLlama(checkpoint, false, options, adapter.SavedModules) { Adapter = adapter };
        foreach (var m in adapter.Modules)
        {
            var proj = model.FindProjection(m.Module)
                ?? throw new NotSupportedException($"LoRA module '{m.Module}' is not a decoder-layer projection ({string.Join(", ", ProjectionNames)})");
            var a = new Parameter(LoraAdapterFile.PeftName(m.Module, "lora_A"), m.A, new float[m.A.Length], [m.Rank, m.InFeatures]);
            var b = new Parameter(LoraAdapterFile.PeftName(m.Module, "lora_B"), m.B, new float[m.B.Length], [m.OutFeatures, m.Rank]);
            model._parameters.Add(a);
            model._parameters.Add(b);
            proj.LoraA = Var.FromParameter(a);
            proj.LoraB = Var.FromParameter(b);
            proj.Scaling = m.Scaling;
            proj.DropoutP = adapter.Options.LoraDropout;
            proj.LoraIndex = model._loraModules++;
            model._vars[a.Name] = proj.LoraA;
            model._vars[b.Name] = proj.LoraB;
        }
        return model;
    }

    /// <summary>LoRA fine-tuning with a fresh adapter initialised as PEFT does (<see cref="LoraAdapter.Create"/>, seeded).</summary>
    public static TrainableLlama CreateLora(ICheckpoint checkpoint, LoraOptions options, int seed, TrainableLlamaOptions? modelOptions = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return CreateLora(checkpoint, LoraAdapter.Create(options, checkpoint, seed, checkpoint.Config.ModelType), modelOptions);
    }

    Projection? FindProjection(string module)
    {
        const string prefix = "model.layers.";
        if (!module.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int dot = module.IndexOf('.', prefix.Length);
        if (dot < 0 || !int.TryParse(module.AsSpan(prefix.Length, dot - prefix.Length), out int l) || (uint)l >= (uint)_layers.Length) return null;
        int i = Array.IndexOf(ProjectionNames, module[(dot + 1)..]);
        return i < 0 ? null : _layers[l].Projections.ElementAt(i);
    }

    public ModelConfig Config { get; }
    public TrainableLlamaOptions Options { get; }
    /// <summary>The LoRA adapter being trained (live values), or null for full fine-tuning.</summary>
    public LoraAdapter? Adapter { get; private set; }
    /// <summary>The trainable parameters (checkpoint names, or PEFT names for LoRA), for an optimiser.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;
    /// <summary>The tape of the last step (its arena holds the activations).</summary>
    public Tape Tape { get; } = new();
    /// <summary>Floats ever allocated by the activation arenas (constant once shapes repeat).</summary>
    public long ArenaFloats => Tape.Arena.AllocatedFloats + _layerTape.Arena.AllocatedFloats;

    /// <summary>
    /// Training forward passes run so far (one per <see cref="ForwardBackward"/> call): with the seed it keys the next
    /// pass's dropout masks, so a resumed run sets it back to continue with the same masks.
    /// </summary>
    public long TrainingPasses
    {
        get => _trainingPasses;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _trainingPasses = value;
        }
    }
    long _trainingPasses;

    /// <summary>A model tensor by checkpoint name (the frozen base tensor under LoRA), or an adapter tensor (lora_A,
    /// lora_B, modules_to_save copy) by PEFT name.</summary>
    public Var GetTensor(string name) => _vars.TryGetValue(name, out var v) ? v
        : throw new KeyNotFoundException($"the model has no tensor '{name}'");

    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.ZeroGrad();
    }

    /// <summary>
    /// One forward and backward pass: returns the batch loss (HF causal-LM loss: summed over the batch's targets, divided by
    /// <see cref="CausalLmBatch.LossNormaliser"/>, by default the target count) and
    /// accumulates (+=) d loss / d parameter into the parameters' gradients (call <see cref="ZeroGrad"/> between steps).
    /// </summary>
    public double ForwardBackward(CausalLmBatch batch)
    {
        var loss = Forward(batch, recordGradients: true);
        Tape.Backward(loss);
        _trainingPasses++;
        return loss.Value[0];
    }

    /// <summary>The batch loss without gradients and without dropout (torch.no_grad in eval mode).</summary>
    public double ComputeLoss(CausalLmBatch batch) => Forward(batch, recordGradients: false).Value[0];

    Var Forward(CausalLmBatch batch, bool recordGradients)
    {
        var pass = new Pass(recordGradients, _trainingPasses, unchecked((ulong)(uint)Options.DropoutSeed), _loraModules);
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.TargetCount == 0) throw new ArgumentException("the batch has no target tokens (every shifted label is -100)", nameof(batch));
        if (batch.Time > _rope.MaxPositions)
            throw new ArgumentException($"sequence length {batch.Time} exceeds max_position_embeddings {_rope.MaxPositions}", nameof(batch));
        var tape = Tape;
        tape.Reset();
        tape.GradEnabled = recordGradients;
        var x = Embedding.Apply(tape, _embed, batch.InputIds);                              // (B·T, C)
        bool padded = batch.HasSegments;
        for (int l = 0; l < _layers.Length; l++)
            x = Options.GradientCheckpointing && recordGradients
                ? CheckpointedLayer(tape, _layers[l], x, batch, padded, pass)
                : DecoderLayer(tape, _layers[l], x, batch, padded, pass);
        var h = RmsNorm.Apply(tape, x, _norm, _eps);
        // Training passes end in Tape.Backward(loss) (ForwardBackward): the loss's gradients go straight into the grads.
        return CrossEntropyWithHead.Apply(tape, h, _head, batch.Targets, batch.LossNormaliser ?? batch.TargetCount, Options.LossChunk,
            intoGradients: recordGradients);
    }

    // Pre-norm decoder layer: x + Attn(RMSNorm(x)), then + MLP(RMSNorm(·)).
    Var DecoderLayer(Tape tape, Layer layer, Var x, CausalLmBatch batch, bool padded, in Pass pass)
    {
        var h = RmsNorm.Apply(tape, x, layer.InputNorm, _eps);
        var q = layer.Q.Apply(tape, h, pass);                                               // (B·T, nh·hs)
        var k = layer.K.Apply(tape, h, pass);                                               // (B·T, nkv·hs)
        var v = layer.V.Apply(tape, h, pass);
        q = Rope.Apply(tape, q, batch.Positions, _nh, _hs, _rope);
        k = Rope.Apply(tape, k, batch.Positions, _nkv, _hs, _rope);
        var a = Attention.Apply(tape, q, k, v, batch.Batch, batch.Time, _nh, _nkv, _hs, padded ? batch.SegmentIds : default);
        x = Add.Apply(tape, x, layer.O.Apply(tape, a, pass));
        var h2 = RmsNorm.Apply(tape, x, layer.PostAttentionNorm, _eps);
        var m = SwiGlu.Apply(tape, layer.Gate.Apply(tape, h2, pass), layer.Up.Apply(tape, h2, pass));   // (B·T, I)
        return Add.Apply(tape, x, layer.Down.Apply(tape, m, pass));
    }

    // Runs the layer on a private tape without recording, keeps only its output, and records one node that
    // recomputes the layer with recording during backward (the pass key regenerates the same dropout masks).
    Var CheckpointedLayer(Tape tape, Layer layer, Var x, CausalLmBatch batch, bool padded, in Pass pass)
    {
        bool req = x.RequiresGrad || layer.Trainable;
        var y = tape.NewVar((int[])x.Shape.Clone(), req);
        _layerTape.Reset();
        _layerTape.GradEnabled = false;
        DecoderLayer(_layerTape, layer, x, batch, padded, pass).Value.CopyTo(y.Value);
        if (req) tape.Record(new CheckpointNode(this, layer, x, y, batch, padded, pass));
        return y;
    }

    sealed class CheckpointNode(TrainableLlama model, Layer layer, Var x, Var y, CausalLmBatch batch, bool padded, Pass pass) : Node
    {
        protected internal override void Backward(Tape tape)
        {
            var sub = model._layerTape;
            sub.Reset();
            sub.GradEnabled = true;
            var xin = sub.NewVar((int[])x.Shape.Clone(), x.RequiresGrad);
            x.Value.CopyTo(xin.Value);
            var output = model.DecoderLayer(sub, layer, xin, batch, padded, pass);
            sub.Backward(output, y.Grad);
            if (x.RequiresGrad) System.Numerics.Tensors.TensorPrimitives.Add(x.Grad, xin.Grad, x.Grad);
        }
    }
}
