// The quickstart pieces: TaskGenerator (determinism, exact answers, held-out fact split), CharTokenizer (round trip,
// special ids, errors), PngWriter/LossChart (a valid PNG re-inflated pixel by pixel) and a small end-to-end run.
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Loft.Training.Data;
using Loft.Training.Quickstart;

namespace Loft.Training.Tests.Quickstart;

public sealed class QuickstartTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("loft-quickstart-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void GeneratorIsDeterministicPerSeed()
    {
        var a = new TaskGenerator(7);
        var b = new TaskGenerator(7);
        var c = new TaskGenerator(8);
        var la = Enumerable.Range(0, 200).Select(_ => a.Next()).ToList();
        var lb = Enumerable.Range(0, 200).Select(_ => b.Next()).ToList();
        var lc = Enumerable.Range(0, 200).Select(_ => c.Next()).ToList();
        Assert.Equal(la, lb);
        Assert.NotEqual(la, lc);
        Assert.Equal(TaskGenerator.Kinds.ToHashSet(), la.Select(t => t.Kind).ToHashSet());
    }

    [Fact]
    public void GeneratedAnswersAreCorrect()
    {
        var gen = new TaskGenerator(3);
        var capitals = TaskGenerator.Capitals.ToDictionary(x => x.Country, x => x.Capital);
        for (int i = 0; i < 1400; i++)
        {
            var t = gen.Next();
            Assert.EndsWith(" is " + t.Answer, t.PretrainText);
            var phrase = t.PretrainText[..^(" is ".Length + t.Answer.Length)];
            Assert.Equal($"Q: What is {phrase}?\nA: ", t.Prompt);
            var w = phrase.Split(' ');
            static int N(string s) => int.Parse(s, CultureInfo.InvariantCulture);
            string expected = t.Kind switch
            {
                "add" => (N(w[0]) + N(w[2])).ToString(CultureInfo.InvariantCulture),
                "sub" => (N(w[0]) - N(w[2])).ToString(CultureInfo.InvariantCulture),
                "copy" => w[0],
                "reverse" => new string(w[0].Reverse().ToArray()),
                "sort" => new string(w[0].Order().ToArray()),
                "capital" => capitals[w[^1]],
                "color" => ColorAnswer(w),
                _ => throw new InvalidOperationException(t.PretrainText),
            };
            Assert.Contains(t.Kind switch { "add" => "plus", "sub" => "minus", "copy" => "copied", "reverse" => "reversed", "sort" => "sorted", _ => t.Kind }, w);
            Assert.Equal(expected, t.Answer);
            if (t.Kind == "sub") Assert.True(int.Parse(t.Answer, CultureInfo.InvariantCulture) >= 0);
        }
    }

    // "the color of X if X is C": the answer is read from the question.
    static string ColorAnswer(string[] w)
    {
        Assert.Equal(8, w.Length);
        Assert.Equal(["the", "color", "of", "if", "is"], new[] { w[0], w[1], w[2], w[4], w[6] });
        Assert.Equal(w[3], w[5]);
        Assert.Contains(w[7], TaskGenerator.ColorNames);
        return w[7];
    }

    [Fact]
    public void FactSplitsAreDisjoint()
    {
        static HashSet<string> Prompts(FactSplit split)
        {
            var g = new TaskGenerator(1, factSplit: split);
            return Enumerable.Range(0, 1000).Select(_ => g.Next("capital").Prompt).ToHashSet();
        }
        var train = Prompts(FactSplit.Train);
        var held = Prompts(FactSplit.HeldOut);
        Assert.Empty(train.Intersect(held));
        Assert.Equal(TaskGenerator.Capitals.Where((_, i) => TaskGenerator.IsHeldOutFact(i)).Select(x => $"Q: What is the capital of {x.Country}?\nA: ").ToHashSet(), held);
        Assert.Equal(TaskGenerator.Capitals.Count, Prompts(FactSplit.All).Count);
        Assert.Equal(10, TaskGenerator.DistinctFacts("capital", FactSplit.HeldOut));
        Assert.Equal(20, TaskGenerator.DistinctFacts("capital", FactSplit.Train));
        Assert.Equal(30, TaskGenerator.DistinctFacts("capital", FactSplit.All));
        Assert.Null(TaskGenerator.DistinctFacts("color", FactSplit.HeldOut));
        Assert.Equal(TaskGenerator.Capitals.Count, TaskGenerator.Capitals.Select(x => x.Country).Distinct().Count());
        Assert.Equal(TaskGenerator.Capitals.Count, TaskGenerator.Capitals.Select(x => x.Capital).Distinct().Count());
    }

    [Fact]
    public void PretrainLinesStateTrueFactsInSeveralWordingsAndFollowTheWeights()
    {
        var capitals = TaskGenerator.Capitals.ToDictionary(x => x.Country, x => x.Capital);
        var heldOut = TaskGenerator.Capitals.Where((_, i) => TaskGenerator.IsHeldOutFact(i)).Select(x => x.Country).ToHashSet();
        var gen = new TaskGenerator(5, maxNumber: 9);
        var again = new TaskGenerator(5, maxNumber: 9);
        var counts = TaskGenerator.Kinds.ToDictionary(k => k, _ => 0);
        var wordings = new Dictionary<string, HashSet<string>> { [""] = [], ["held-out"] = [] };
        const int n = 20000;
        for (int i = 0; i < n; i++)
        {
            var line = gen.NextPretrainLine();
            Assert.Equal(line, again.NextPretrainLine());
            var w = line.Split(' ');
            string kind;
            if (line.Contains("capital", StringComparison.Ordinal))
            {
                kind = "capital";
                var (country, capital) = line switch
                {
                    _ when line.StartsWith("the capital of ", StringComparison.Ordinal) => (w[3], w[5]),
                    _ when line.StartsWith("what is the capital of ", StringComparison.Ordinal) => (w[5].TrimEnd('?'), w[6]),
                    _ when w[1] == "is" => (w[5], w[0]),
                    _ => (w[0], w[5]),
                };
                Assert.Equal(capitals[country], capital);
                wordings[heldOut.Contains(country) ? "held-out" : ""].Add(line.Replace(country, "C", StringComparison.Ordinal).Replace(capital, "X", StringComparison.Ordinal));
            }
            else if (w[1] == "color")
            {
                kind = "color";
                Assert.Equal(ColorAnswer(w[..^2]), w[^1]);
            }
            else kind = w[1] switch { "plus" => "add", "minus" => "sub", "copied" => "copy", "reversed" => "reverse", "sorted" => "sort", _ => throw new InvalidOperationException(line) };
            counts[kind]++;
        }
        // Every capital, held-out or not, in every wording (the instruction form "Q: What is ...?\nA: " is not one of them).
        string[] expectedWordings = ["C has its capital in X", "X is the capital of C", "the capital of C is X", "what is the capital of C? X"];
        Assert.Equal(expectedWordings, wordings["held-out"].Order(StringComparer.Ordinal));
        Assert.Equal(expectedWordings, wordings[""].Order(StringComparer.Ordinal));
        double sum = TaskGenerator.PretrainWeights.Sum();
        for (int k = 0; k < TaskGenerator.Kinds.Count; k++)
        {
            double expected = n * TaskGenerator.PretrainWeights[k] / sum;
            Assert.InRange(counts[TaskGenerator.Kinds[k]], expected - 5 * Math.Sqrt(expected), expected + 5 * Math.Sqrt(expected));
        }
    }

    [Fact]
    public void HeldOutPromptsAreDistinctAndNeverInTheFineTuningData()
    {
        var options = new QuickstartOptions();
        var eval = QuickstartRunner.BuildEval(options);
        Assert.Equal(options.EvalCount, eval.Count);
        Assert.Equal(eval.Count, eval.Select(t => t.Prompt).Distinct().Count());
        var perKind = eval.GroupBy(t => t.Kind).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(TaskGenerator.DistinctFacts("capital", FactSplit.HeldOut), perKind["capital"]);
        Assert.All(TaskGenerator.Kinds.Where(k => k != "capital"), k => Assert.Equal(15, perKind[k]));

        var heldOut = eval.Select(t => t.Prompt).ToHashSet(StringComparer.Ordinal);
        var sft = QuickstartRunner.BuildInstructions(options, heldOut);
        Assert.Equal(options.LoraSteps * options.LoraBatch, sft.Count);
        Assert.DoesNotContain(sft, t => heldOut.Contains(t.Prompt));
        // Fine-tuning asks about train-split capitals only, so every held-out capital question is about a fact it never saw asked.
        var trainFacts = new TaskGenerator(0, factSplit: FactSplit.Train);
        var trainFactPrompts = Enumerable.Range(0, 1000).Select(_ => trainFacts.Next("capital").Prompt).ToHashSet();
        Assert.All(sft.Where(t => t.Kind == "capital"), t => Assert.Contains(t.Prompt, trainFactPrompts));
        Assert.DoesNotContain(eval, t => t.Kind == "capital" && trainFactPrompts.Contains(t.Prompt));
        Assert.Equal(TaskGenerator.Kinds.ToHashSet(), sft.Select(t => t.Kind).ToHashSet());
        Assert.Equal(eval.Select(t => t.Prompt), QuickstartRunner.BuildEval(options).Select(t => t.Prompt));
    }

    [Fact]
    public void EvalTableListsEveryKindAndTheTotal()
    {
        QuickSample S(string kind, bool ok) => new(kind, "Q", "x", ok ? "x" : "y");
        var before = new QuickEval(1, 4, [S("add", false), S("add", false), S("copy", true), S("capital", false)]);
        var after = new QuickEval(3, 4, [S("add", true), S("add", true), S("copy", true), S("capital", false)]);
        Assert.Equal([("add", 2, 2), ("copy", 1, 1), ("capital", 0, 1)], after.ByKind());
        var lines = QuickEval.FormatTable([("before", before), ("after LoRA", after)]);
        Assert.Equal(
        [
            "            add  copy  capital  total",
            "before      0/2   1/1      0/1    1/4  (25%)",
            "after LoRA  2/2   1/1      0/1    3/4  (75%)",
        ], lines);
    }

    [Fact]
    public void UnknownKindThrows()
    {
        var e = Assert.Throws<ArgumentException>(() => new TaskGenerator(1).Next("divide"));
        Assert.StartsWith("unknown task kind 'divide' (known: add, sub, copy, reverse, sort, capital, color)", e.Message);
    }

    [Theory]
    [InlineData("add 12 7 = 19")]
    [InlineData("Q: What is the capital of france?\nA: paris")]
    [InlineData(" !~{}|\\\"'")]
    public void CharTokenizerRoundTrips(string text)
    {
        var tok = new CharTokenizer();
        var ids = tok.Encode(text, addBos: true, addEos: true);
        Assert.Equal(text.Length + 2, ids.Length);
        Assert.Equal(CharTokenizer.Bos, ids[0]);
        Assert.Equal(CharTokenizer.Eos, ids[^1]);
        Assert.All(ids, id => Assert.InRange(id, 0, tok.VocabSize - 1));
        Assert.Equal(text, tok.Decode(ids));
        Assert.Equal("<s>" + text + "</s>", tok.Decode(ids, skipSpecialTokens: false));
        var inc = tok.CreateIncrementalDecoder();
        Assert.Equal(text, string.Concat(ids.Select(inc.Add)) + inc.Flush());
    }

    [Fact]
    public void CharTokenizerVocabulary()
    {
        var tok = new CharTokenizer();
        Assert.Equal(99, tok.VocabSize);
        Assert.Equal(3, tok.TokenToId("\n"));
        Assert.Equal(2, tok.TokenToId("</s>"));
        Assert.Null(tok.TokenToId("ab"));
        Assert.True(tok.IsSpecial(0));
        Assert.False(tok.IsSpecial(tok.TokenToId("a")!.Value));
        for (int id = 0; id < tok.VocabSize; id++) Assert.Equal(id, tok.TokenToId(tok.IdToToken(id)));
        var e = Assert.Throws<ArgumentException>(() => tok.Encode("café"));
        Assert.StartsWith("character U+00E9 at index 3 is not in the quickstart alphabet", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([99]));
    }

    [Fact]
    public void PngWriterWritesADecodablePng()
    {
        const int w = 5, h = 3;
        var rgb = new byte[w * h * 3];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = (byte)(i * 7);
        var path = Path.Combine(_dir, "t.png");
        PngWriter.Write(path, w, h, rgb);
        var (width, height, pixels) = DecodePng(File.ReadAllBytes(path));
        Assert.Equal(w, width);
        Assert.Equal(h, height);
        Assert.Equal(rgb, pixels);
        Assert.Equal(0xCBF43926u, PngWriter.Crc32("123456789"u8));   // the CRC-32 check value
        Assert.Throws<ArgumentException>(() => PngWriter.Write(new MemoryStream(), w, h, new byte[5]));
    }

    [Fact]
    public void LossChartDrawsCurvesAndAxes()
    {
        var series = new[] { new ChartSeries("a", [(0, 4.0), (10, 1.0)], (255, 0, 0)) };
        var path = Path.Combine(_dir, "chart.png");
        LossChart.Save(path, series, 200, 120);
        var (width, height, px) = DecodePng(File.ReadAllBytes(path));
        Assert.Equal((200, 120), (width, height));
        (byte, byte, byte) At(int x, int y) => (px[(y * width + x) * 3], px[(y * width + x) * 3 + 1], px[(y * width + x) * 3 + 2]);
        int left = LossChart.Margin, bottom = height - LossChart.Margin, top = LossChart.Margin / 2;
        Assert.Equal(((byte)0, (byte)0, (byte)0), At(left, bottom - 5));         // y axis
        Assert.Equal(((byte)255, (byte)0, (byte)0), At(left, top));              // curve starts at the max loss
        Assert.Equal(((byte)255, (byte)255, (byte)255), At(width - 2, 1));      // background
    }

    [Fact]
    public void InstructionExamplesTrainOnTheAnswerOnly()
    {
        var tok = new CharTokenizer();
        var t = new QuickTask("add", "1 plus 2 is 3", "Q: What is 1 plus 2?\nA: ", "3");
        var ex = QuickstartRunner.ToExample(tok, t);
        Assert.Equal(tok.Encode(t.Prompt + t.Answer, addBos: true, addEos: true), ex.InputIds);
        Assert.Equal(2, ex.LabelCount);
        Assert.Equal([tok.TokenToId("3")!.Value, CharTokenizer.Eos], ex.Labels[^2..]);
        Assert.All(ex.Labels[..^2], l => Assert.Equal(TokenizedExample.IgnoreIndex, l));
    }

    [Fact]
    public void SmallRunCompletesAndWritesItsOutputs()
    {
        var options = new QuickstartOptions
        {
            Output = _dir, HiddenSize = 64, IntermediateSize = 172, Layers = 2, PretrainSteps = 40, LoraSteps = 15, PretrainBatch = 8,
            LoraBatch = 8, EvalCount = 21, Samples = 3, MaxLength = 64,
        };
        var log = new StringWriter();
        var r = QuickstartRunner.Run(options, log);
        Assert.Equal(21, r.Before.Total);
        Assert.Equal(21, r.After.Total);
        Assert.True(r.After.Correct >= r.Before.Correct, log.ToString());
        Assert.Equal(40, r.PretrainLoss.Count);
        Assert.Equal(15, r.LoraLoss.Count);
        Assert.True(r.PretrainLoss[^1] < r.PretrainLoss[0], "pretraining loss should fall");
        Assert.Equal(40, File.ReadAllLines(Path.Combine(_dir, "pretrain", "metrics.jsonl")).Length);
        Assert.Equal(15, File.ReadAllLines(Path.Combine(_dir, "lora", "metrics.jsonl")).Length);
        Assert.True(File.Exists(Path.Combine(_dir, "lora", "adapter_model.safetensors")));
        var (w, h, _) = DecodePng(File.ReadAllBytes(Path.Combine(_dir, QuickstartRunner.ChartFileName)));
        Assert.Equal((640, 360), (w, h));
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, QuickstartRunner.ResultsFileName)));
        Assert.Equal(r.After.Correct, results.RootElement.GetProperty("after").GetProperty("correct").GetInt32());
        Assert.Contains($"held-out exact match: before {r.Before}, after {r.After}", log.ToString());
        var heldOut = File.ReadAllLines(Path.Combine(_dir, "heldout.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("instruction").GetString()).ToHashSet();
        var train = File.ReadAllLines(Path.Combine(_dir, "instructions.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("instruction").GetString());
        Assert.DoesNotContain(train, heldOut.Contains);
    }

    /// <summary>A PNG reader for the writer's output: signature, chunk CRCs, IHDR, IDAT re-inflated, filter-0 rows.</summary>
    static (int Width, int Height, byte[] Rgb) DecodePng(byte[] file)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, file[..8]);
        int at = 8, width = 0, height = 0;
        var idat = new MemoryStream();
        var types = new List<string>();
        while (at < file.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(file, at + 4, 4);
            var data = file.AsSpan(at + 8, len);
            Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(at + 8 + len)), PngWriter.Crc32(file.AsSpan(at + 4, len + 4)));
            types.Add(type);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.Equal([8, 2, 0, 0, 0], data[8..].ToArray());
            }
            else if (type == "IDAT") idat.Write(data);
            at += 12 + len;
        }
        Assert.Equal(["IHDR", "IDAT", "IEND"], types);
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        var bytes = raw.ToArray();
        Assert.Equal(height * (1 + width * 3), bytes.Length);
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            Assert.Equal(0, bytes[y * (1 + width * 3)]);
            Array.Copy(bytes, y * (1 + width * 3) + 1, rgb, y * width * 3, width * 3);
        }
        return (width, height, rgb);
    }
}
