// The stories260K instruction example (examples/stories260k-instruct, made by tools/stories260k_instruct.cs): the data
// follows its story shape in tok512-friendly words, and a short in-process LoRA run on the real stories260K lowers the
// held-out loss and turns the base model's free story into the trained shape for an unseen name–object pairing.
using System.Text.RegularExpressions;
using Loft.Autograd.Llama;
using Loft.Formats;
using Loft.Models.Inference.Generation;
using Loft.Models.Llama;
using Loft.Peft.Inference;
using Loft.Peft.Lora;
using Loft.Tokenizers;
using Loft.Training.Data;
using Loft.Training.Sft;

namespace Loft.Training.Tests;

public sealed partial class Stories260kInstructTests : IDisposable
{
    const string ModelFile = "data/models/stories260K/stories260K.bin";
    const string TokenizerFile = "data/models/stories260K/tok512.model";
    readonly string _dir = Directory.CreateTempSubdirectory("loft-story-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    static string ExampleFile(string name) => Path.Combine(SharedData.RepoRoot, "examples", "stories260k-instruct", name);

    // The three instruction phrasings of the generator; each names the animal, the name and the object.
    [GeneratedRegex(@"^(?:Write a story about a (?<a>[a-z]+) named (?<n>[A-Z][a-z]+) and a (?<o>[a-z]+)\.|" +
                    @"Tell a story about a (?<a>[a-z]+) named (?<n>[A-Z][a-z]+) who has a (?<o>[a-z]+)\.|" +
                    @"Write a short story about (?<n>[A-Z][a-z]+) the (?<a>[a-z]+) and the (?<o>[a-z]+)\.)$")]
    private static partial Regex InstructionPattern();

    static (string Name, string Animal, string Object) Slots(string instruction)
    {
        var m = InstructionPattern().Match(instruction);
        Assert.True(m.Success, $"instruction does not follow a known phrasing: '{instruction}'");
        return (m.Groups["n"].Value, m.Groups["a"].Value, m.Groups["o"].Value);
    }

    /// <summary>The first two sentences of the trained story shape for an instruction.</summary>
    static string StoryOpening(string instruction)
    {
        var (name, animal, obj) = Slots(instruction);
        return $"Once upon a time, there was a little {animal} named {name}. {name} had a {obj}.";
    }

    static List<InstructionExample> Read(string name) => Dataset.ReadAlpaca(ExampleFile(name)).ToList();

    [SharedFact(TokenizerFile)]
    public void DataFollowsTheStoryShapeInWholeWordPieces()
    {
        var train = Read("train.jsonl");
        var eval = Read("eval.jsonl");
        Assert.Equal(400, train.Count);
        Assert.Equal(48, eval.Count);
        var tok = TokenizerLoader.Load(SharedData.Require(TokenizerFile));
        long words = 0, pieces = 0;
        foreach (var r in train.Concat(eval))
        {
            var (name, animal, obj) = Slots(r.Instruction);
            Assert.Equal("", r.Input);
            bool girl = r.Output.Contains(" She loved her ", StringComparison.Ordinal);
            string he = girl ? "She" : "He", his = girl ? "her" : "his";
            Assert.Equal(
                $"Once upon a time, there was a little {animal} named {name}. {name} had a {obj}. {he} loved {his} {obj} very much. " +
                $"One day, {name} could not find the {obj}. {name} was sad. {he} looked in the house and in the park. " +
                $"Then {name} saw the {obj} under the bed. {name} was happy again. The end.", r.Output);
            foreach (var text in new[] { r.Instruction, r.Output })
            {
                var ids = tok.Encode(text);
                // No unknown or byte-fallback pieces (unk 0, bytes 3..258 in tok512).
                Assert.DoesNotContain(ids, id => id == 0 || id is >= 3 and <= 258);
                pieces += ids.Length;
                words += text.Split(' ').Length;
            }
        }
        // Whole words or short pieces: under two pieces per word on average (punctuation included).
        Assert.InRange((double)pieces / words, 1.0, 2.0);

        // Held out: no name–object pairing of eval.jsonl occurs in train.jsonl, but every name, animal and object does.
        var trainSlots = train.Select(r => Slots(r.Instruction)).ToList();
        var trainPairs = trainSlots.Select(s => (s.Name, s.Object)).ToHashSet();
        foreach (var (name, animal, obj) in eval.Select(r => Slots(r.Instruction)))
        {
            Assert.DoesNotContain((name, obj), trainPairs);
            Assert.Contains(trainSlots, s => s.Name == name);
            Assert.Contains(trainSlots, s => s.Animal == animal);
            Assert.Contains(trainSlots, s => s.Object == obj);
        }
    }

    sealed class HeldOutTrainer(TrainableLlama model, SftOptions options, SftBatcher train, SftBatcher eval)
        : TrainerBase(model, options, train, eval);

    static string Greedy(LlamaModel model, ITokenizer tok, string instruction, int maxNewTokens)
    {
        var prompt = tok.EncodeWithSpecialTokens(SftFormatter.FormatAlpacaPrompt(instruction, ""));
        var result = new Generator(model, tok).Generate(prompt, new GenerationOptions { MaxNewTokens = maxNewTokens });
        return tok.Decode(result.Ids).Trim();
    }

    [SharedFact(ModelFile, TokenizerFile)]
    public void LoraFineTuneLowersHeldOutLossAndTeachesTheStoryShape()
    {
        string modelPath = SharedData.Require(ModelFile);
        var tok = TokenizerLoader.Load(SharedData.Require(TokenizerFile));
        // A shorter version of the README's `loft sft` run: 40 steps of 8 examples (0.8 epoch) instead of 3 epochs of 16.
        var options = new SftOptions
        {
            Model = modelPath, Output = Path.Combine(_dir, "lora"), LoraR = 16, LoraAlpha = 32,
            TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            LearningRate = 5e-3, MaxSteps = 40, BatchSize = 8, MaxLength = 256, SaveSteps = 0, EvalSplit = 0,
        };
        var dataOptions = options.ToDataOptions();
        var formatter = new SftFormatter(tok, dataOptions);
        var train = SftDataset.Load(ExampleFile("train.jsonl"), formatter);
        var eval = SftDataset.Load(ExampleFile("eval.jsonl"), formatter);
        Assert.Equal(0, train.Report.TruncatedCount + eval.Report.TruncatedCount);
        Assert.Equal((400, 48), (train.Train.Count, eval.Train.Count));

        TrainableLlama model;
        using (var checkpoint = CheckpointLoader.Open(modelPath))
            model = SftTrainer.CreateModel(checkpoint, options);
        var trainer = new HeldOutTrainer(model, options, new SftBatcher(train.Train, dataOptions), new SftBatcher(eval.Train, dataOptions));
        var before = trainer.Evaluate();
        var result = trainer.Train();
        var after = result.LastEval!;
        Assert.Equal(40, after.Step);
        Assert.Equal(before.TargetTokens, after.TargetTokens);
        // The base model knows TinyStories (about 1.9 nats on these stories) but not this shape; 40 steps take the
        // held-out loss below a tenth of that (the README's 3-epoch run reaches about 0.055).
        Assert.InRange(before.Loss, 1.5, 2.5);
        Assert.True(after.Loss < 0.1 * before.Loss, $"held-out loss {before.Loss:F4} -> {after.Loss:F4}");

        // Greedy generations for 8 held-out instructions (unseen name–object pairings), before and with the saved adapter.
        string[] instructions = Read("eval.jsonl").Where((_, i) => i % 6 == 0).Select(r => r.Instruction).ToArray();
        string[] baseText, tunedText;
        using (var lm = LlamaModel.Load(modelPath))
            baseText = instructions.Select(i => Greedy(lm, tok, i, 28)).ToArray();
        using (var lm = LlamaModel.Load(modelPath))
        {
            LoraModelAdapter.Apply(lm, LoraAdapterFile.Load(options.Output!, lm.Weights));
            tunedText = instructions.Select(i => Greedy(lm, tok, i, 28)).ToArray();
        }
        int following = 0;
        for (int i = 0; i < instructions.Length; i++)
        {
            string opening = StoryOpening(instructions[i]);
            Assert.NotEqual(baseText[i], tunedText[i]);
            Assert.False(baseText[i].StartsWith(opening, StringComparison.Ordinal), $"base model already follows the shape: {baseText[i]}");
            Assert.StartsWith("Once upon a time, there was a little ", tunedText[i]);
            if (tunedText[i].StartsWith(opening, StringComparison.Ordinal)) following++;
        }
        // The trained shape with the instruction's own animal, name and object (the full run gets 48 of 48 right;
        // this short one usually 8 of 8).
        Assert.True(following >= 6, $"{following}/8 follow the instruction:\n{string.Join("\n", tunedText)}");
    }
}
