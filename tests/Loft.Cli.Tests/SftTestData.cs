// The tiny Alpaca file the `loft sft` command tests train on: "Say the name." with a name in the input and as the
// output, cycling through four names.
using System.Text.Json;

namespace Loft.Cli.Tests;

internal static class SftTestData
{
    /// <summary>Writes <paramref name="count"/> Alpaca records to <paramref name="dir"/>/<paramref name="name"/> and returns the path.</summary>
    public static string WriteNames(string dir, string name = "d.jsonl", int count = 20)
    {
        string[] names = ["Lily", "Tom", "Ben", "Sue"];
        var path = Path.Combine(dir, name);
        File.WriteAllLines(path, Enumerable.Range(0, count).Select(i => JsonSerializer.Serialize(new Dictionary<string, string>
            { ["instruction"] = "Say the name.", ["input"] = $"{names[i % 4]} is a friend.", ["output"] = names[i % 4] })));
        return path;
    }
}
