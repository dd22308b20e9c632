using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using InferenceGateway.Core.Evaluation;
using InferenceGateway.Core.PredictionLog;

namespace InferenceGateway.Server.Tests.PredictionLog;

/// <summary>The HTML report opened in headless Chromium: its screenshot's pixels show both plots drawn.</summary>
public sealed class HtmlReportTests
{
    [Fact]
    public async Task Html_OpenedInHeadlessChromium_RocAndCalibrationCurvesArePainted()
    {
        var random = new Random(5);
        var rows = new List<EvaluationRow>();
        for (var i = 0; i < 2000; i++)
        {
            var positive = random.NextDouble() < 0.3;
            var strong = Math.Clamp((positive ? 0.7 : 0.3) + ((random.NextDouble() - 0.5) * 0.6), 0.01, 0.99);
            var weak = Math.Clamp((positive ? 0.55 : 0.45) + ((random.NextDouble() - 0.5) * 0.8), 0.01, 0.99);
            rows.Add(new EvaluationRow(i % 2 == 0 ? "1" : "2", "", false, $"r{i}", (float)(i % 2 == 0 ? weak : strong), 1000 + i, positive ? 1 : 0));
        }

        var report = ModelEvaluator.Evaluate(rows, "fraud", 0, 0, 0.5);
        var directory = Path.Combine(Path.GetTempPath(), "ig-report-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var html = Path.Combine(directory, "report.html");
            await File.WriteAllTextAsync(html, EvaluationFormat.Html(report, DateTimeOffset.UnixEpoch));
            var png = Path.Combine(directory, "shot.png");
            await ScreenshotAsync(html, png, directory);
            var (width, height, pixels) = Png.Decode(await File.ReadAllBytesAsync(png));

            // Each group's colour (palette: #1f77b4 for v1, #d62728 for v2) must cover many pixels: the two curves of
            // both plots, well beyond the legend swatches and table markers (~200 pixels each).
            var blue = Count(pixels, width, height, 0x1f, 0x77, 0xb4);
            var red = Count(pixels, width, height, 0xd6, 0x27, 0x28);
            Assert.True(blue > 1500, $"{blue} pixels of v1's colour");
            Assert.True(red > 1500, $"{red} pixels of v2's colour");

            // The curves sit in the plots' lower half of the page, not in the table: look below the tables.
            var plotTop = height / 3;
            Assert.True(Count(pixels, width, height, 0xd6, 0x27, 0x28, fromRow: plotTop) > 1000, "v2's curves not drawn in the plots");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static long Count(byte[] rgb, int width, int height, int r, int g, int b, int fromRow = 0)
    {
        long count = 0;
        for (var y = fromRow; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = ((y * width) + x) * 3;
                if (Math.Abs(rgb[i] - r) < 24 && Math.Abs(rgb[i + 1] - g) < 24 && Math.Abs(rgb[i + 2] - b) < 24)
                {
                    count++;
                }
            }
        }

        return count;
    }

    private static async Task ScreenshotAsync(string html, string png, string directory)
    {
        var chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        if (chromium is null)
        {
            using var install = Process.Start("bash", [Path.Combine(RepoPaths.Root, "scripts", "install-deps.sh")]);
            await install.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
            chromium = "/usr/bin/chromium";
        }

        var start = new ProcessStartInfo(chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--hide-scrollbars", $"--user-data-dir={Path.Combine(directory, "profile")}", "--window-size=1200,1400",
            $"--screenshot={png}", new Uri(html).AbsoluteUri])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        Assert.True(File.Exists(png), $"chromium wrote no screenshot (exit {process.ExitCode}): {await output}{await error}");
    }

    /// <summary>Just enough PNG decoding for Chromium's screenshots: 8-bit RGB or RGBA, not interlaced.</summary>
    private static class Png
    {
        public static (int Width, int Height, byte[] Rgb) Decode(byte[] file)
        {
            var position = 8;
            int width = 0, height = 0, channels = 0;
            using var idat = new MemoryStream();
            while (position < file.Length)
            {
                var length = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(position));
                var type = System.Text.Encoding.ASCII.GetString(file, position + 4, 4);
                var data = file.AsSpan(position + 8, length);
                if (type == "IHDR")
                {
                    width = BinaryPrimitives.ReadInt32BigEndian(data);
                    height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                    Assert.Equal(8, data[8]);
                    channels = data[9] switch { 2 => 3, 6 => 4, _ => throw new NotSupportedException($"PNG colour type {data[9]}") };
                    Assert.Equal(0, data[12]);
                }
                else if (type == "IDAT")
                {
                    idat.Write(data);
                }

                position += 12 + length;
            }

            idat.Position = 0;
            using var inflater = new ZLibStream(idat, CompressionMode.Decompress);
            using var raw = new MemoryStream();
            inflater.CopyTo(raw);
            var bytes = raw.ToArray();
            var stride = width * channels;
            var previous = new byte[stride];
            var current = new byte[stride];
            var rgb = new byte[width * height * 3];
            for (var y = 0; y < height; y++)
            {
                var filter = bytes[y * (stride + 1)];
                Array.Copy(bytes, (y * (stride + 1)) + 1, current, 0, stride);
                for (var i = 0; i < stride; i++)
                {
                    int left = i >= channels ? current[i - channels] : 0, up = previous[i], upLeft = i >= channels ? previous[i - channels] : 0;
                    current[i] = (byte)(current[i] + filter switch
                    {
                        0 => 0,
                        1 => left,
                        2 => up,
                        3 => (left + up) / 2,
                        4 => Paeth(left, up, upLeft),
                        _ => throw new NotSupportedException($"PNG filter {filter}"),
                    });
                }

                for (var x = 0; x < width; x++)
                {
                    Array.Copy(current, x * channels, rgb, ((y * width) + x) * 3, 3);
                }

                (previous, current) = (current, previous);
            }

            return (width, height, rgb);
        }

        private static int Paeth(int a, int b, int c)
        {
            var p = a + b - c;
            int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
            return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
    }
}
