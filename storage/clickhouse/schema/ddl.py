"""How a table is created on one server and on a cluster (CLICKHOUSE_CLUSTER): engines and ON CLUSTER."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Schema:
    database: str
    cluster: str = ""

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def create_table(
        self, name: str, columns: str, engine: str, tail: str, sharding_key: str, engine_args: str = ""
    ) -> list[str]:
        """A table the app reads and writes as `name`.

        On a cluster, `name` is a Distributed table over replicated `<name>_local` tables, sharded by
        `sharding_key` so that one (project, device) always lands on one shard.
        """
        db = self.database
        if not self.cluster:
            return [f"CREATE TABLE IF NOT EXISTS {db}.{name} ({columns}) ENGINE = {engine}({engine_args}) {tail}"]
        path_args = f"'/clickhouse/tables/{{shard}}/{db}/{name}', '{{replica}}'"
        replicated = f"Replicated{engine}({path_args}{', ' + engine_args if engine_args else ''})"
        return [
            f"CREATE TABLE IF NOT EXISTS {db}.{name}_local{self.on_cluster} ({columns}) ENGINE = {replicated} {tail}",
            f"CREATE TABLE IF NOT EXISTS {db}.{name}{self.on_cluster} AS {db}.{name}_local "
            f"ENGINE = Distributed({self.cluster}, {db}, {name}_local, {sharding_key})",
        ]

