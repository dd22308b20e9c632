using System.Net.Sockets;
using Confluent.Kafka;
using StackExchange.Redis;

namespace InferenceGateway.Server.Tests.ScaleOut;

/// <summary>
/// The scale-out tests' infrastructure does what those tests assume: the mock Kafka cluster has the partitions asked
/// for and carries a message from one client to a consumer group's member in another, and Redis keeps its data over a
/// stop and start.
/// </summary>
public sealed class InfrastructureTests
{
    [Fact]
    public async Task MockKafka_TopicsHaveTheirPartitions_AndAGroupConsumerReceivesWhatAnotherClientProduced()
    {
        var cluster = await MockKafkaCluster.StartAsync(("transactions", 6), ("other", 2));
        try
        {
            Assert.All(cluster.BootstrapServers.Split(','), b => Assert.StartsWith("127.0.0.1:", b));

            using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
            {
                var metadata = admin.GetMetadata(TimeSpan.FromSeconds(20));
                Assert.Equal(3, metadata.Brokers.Count);
                Assert.Equal(6, metadata.Topics.Single(t => t.Topic == "transactions").Partitions.Count);
                Assert.Equal(2, metadata.Topics.Single(t => t.Topic == "other").Partitions.Count);
            }

            var value = "event-" + Guid.NewGuid().ToString("N");
            using (var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, Acks = Acks.All }).Build())
            {
                var delivered = await producer.ProduceAsync("transactions", new Message<string, string> { Key = "card-1", Value = value });
                Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
            }

            var consumerConfig = new ConsumerConfig
            {
                BootstrapServers = cluster.BootstrapServers,
                GroupId = "infrastructure-" + Guid.NewGuid().ToString("N")[..8],
                AutoOffsetReset = AutoOffsetReset.Earliest,
                EnableAutoCommit = false,
            };
            var received = await Task.Run(() =>
            {
                using var consumer = new ConsumerBuilder<string, string>(consumerConfig).Build();
                consumer.Subscribe("transactions");
                try
                {
                    // Joining the group takes the mock a few seconds (its rebalance delay); then the record arrives.
                    var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
                    while (DateTime.UtcNow < deadline)
                    {
                        var result = consumer.Consume(TimeSpan.FromMilliseconds(500));
                        if (result?.Message?.Value == value)
                        {
                            consumer.Commit(result);
                            var committed = consumer.Committed([result.TopicPartition], TimeSpan.FromSeconds(10));
                            return (result.Message.Key, Committed: committed.Single().Offset.Value, Next: result.Offset.Value + 1);
                        }
                    }

                    return default;
                }
                finally
                {
                    consumer.Close();
                }
            });

            Assert.True(received.Key is not null, $"the produced record was not consumed within 60 s; mock-kafka said:\n{cluster.Output}");
            Assert.Equal("card-1", received.Key);
            Assert.Equal(received.Next, received.Committed);
        }
        finally
        {
            await cluster.DisposeAsync();
        }

        Assert.Equal(0, cluster.ExitCode);
    }

    [Theory]
    [InlineData("--brokers 0", "--brokers 0 is not within 1 to 32")]
    [InlineData("--topic transactions", "--topic 'transactions' is not NAME:PARTITIONS")]
    [InlineData("--topic transactions:0", "partitions '0' is not an integer within 1 to 10000")]
    [InlineData("--topic bad/name:3", "'bad/name' is not a valid topic name")]
    [InlineData("--topic t:3 --topic t:4", "--topic 't' is given twice")]
    [InlineData("--partitions 6", "unknown option --partitions")]
    public async Task MockKafka_BadArguments_ExitTwoNamingTheProblem(string args, string expected)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Cli.MockKafkaCommand.RunAsync(args.Split(' '), stdout, stderr);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr.ToString());
        Assert.Contains("usage: InferenceGateway.Server mock-kafka", stderr.ToString());
        Assert.Equal("", stdout.ToString());
    }

    [Fact]
    public async Task Redis_KeySetBeforeStop_IsThereAfterStartAgainOnTheSamePort()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        var port = redis.Port;
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration))
        {
            var db = connection.GetDatabase();
            Assert.True(await db.StringSetAsync("infrastructure:key", "before-stop"));
            await db.HashSetAsync("infrastructure:hash", [new HashEntry("count", 41)]);
            await db.HashIncrementAsync("infrastructure:hash", "count");
        }

        await redis.StopAsync();
        using (var probe = new TcpClient())
        {
            var refused = await Assert.ThrowsAsync<SocketException>(() => probe.ConnectAsync("127.0.0.1", port));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }

        await redis.StartAgainAsync();
        Assert.Equal(port, redis.Port);
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration))
        {
            var db = connection.GetDatabase();
            Assert.Equal("before-stop", (string?)await db.StringGetAsync("infrastructure:key"));
            Assert.Equal(42, (long)await db.HashGetAsync("infrastructure:hash", "count"));
        }
    }
}
