#include "storage/sqlite.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

namespace cg::storage {
namespace {

Error test_error(std::string message) { return Error{9999, "test.store", std::move(message)}; }

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("cg-storage-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db"))
                .string();
    remove();
  }
  void TearDown() override { remove(); }
  void remove() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  int64_t count(Database& db, const char* sql) {
    std::lock_guard lock(db.mutex());
    auto st = db.statement(sql);
    EXPECT_TRUE(st.has_value());
    Reset r{*st};
    EXPECT_EQ(sqlite3_step(*st), SQLITE_ROW);
    return sqlite3_column_int64(*st, 0);
  }
  std::string path_;
};

// A database opens in WAL mode and each migration runs once: opening it again runs nothing.
TEST_F(SqliteTest, RunsEachMigrationOnce) {
  Schema s{"part",
           {{1, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);"},
            {2, "INSERT INTO t VALUES (2);"}}};
  {
    auto db = Database::open(path_, test_error);
    ASSERT_TRUE(db.has_value()) << db.error().message;
    ASSERT_TRUE((*db)->migrate(s).has_value());
    std::lock_guard lock((*db)->mutex());
    auto v = (*db)->version("part");
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, 2);
  }
  auto db = Database::open(path_, test_error);
  ASSERT_TRUE(db.has_value());
  ASSERT_TRUE((*db)->migrate(s).has_value());
  EXPECT_EQ(count(**db, "SELECT count(*) FROM t"), 2);
  std::lock_guard lock((*db)->mutex());
  auto st = (*db)->statement("PRAGMA journal_mode");
  ASSERT_TRUE(st.has_value());
  Reset r{*st};
  ASSERT_EQ(sqlite3_step(*st), SQLITE_ROW);
  EXPECT_EQ(column_text(*st, 0), "wal");
}

// A later migration runs on a database an earlier code made; parts keep their own versions.
TEST_F(SqliteTest, MigratesForwardPerPart) {
  auto db = Database::open(path_, test_error);
  ASSERT_TRUE(db.has_value());
  ASSERT_TRUE((*db)->migrate({"a", {{1, "CREATE TABLE a (x INTEGER);"}}}).has_value());
  ASSERT_TRUE((*db)->migrate({"b", {{1, "CREATE TABLE b (x INTEGER);"}}}).has_value());
  ASSERT_TRUE((*db)
                  ->migrate({"a",
                             {{1, "CREATE TABLE a (x INTEGER);"},
                              {2, "ALTER TABLE a ADD COLUMN y INTEGER NOT NULL DEFAULT 7;"}}})
                  .has_value());
  ASSERT_TRUE((*db)->exec("INSERT INTO a(x) VALUES (1)", "insert").has_value());
  EXPECT_EQ(count(**db, "SELECT y FROM a"), 7);
  std::lock_guard lock((*db)->mutex());
  EXPECT_EQ(*(*db)->version("a"), 2);
  EXPECT_EQ(*(*db)->version("b"), 1);
}

// A file made before the version table that has a step's effect already skips that step.
TEST_F(SqliteTest, SkipsStepsAFileAlreadyHas) {
  auto db = Database::open(path_, test_error);
  ASSERT_TRUE(db.has_value());
  ASSERT_TRUE((*db)->exec("CREATE TABLE j (x INTEGER, version INTEGER)", "old").has_value());
  Schema s{"j",
           {{1, "CREATE TABLE IF NOT EXISTS j (x INTEGER);"},
            {2, "ALTER TABLE j ADD COLUMN version INTEGER", "SELECT version FROM j LIMIT 0"}}};
  auto st = (*db)->migrate(s);
  ASSERT_TRUE(st.has_value()) << st.error().message;
  std::lock_guard lock((*db)->mutex());
  EXPECT_EQ(*(*db)->version("j"), 2);
}

// A failing migration leaves nothing behind and names the part, the step and the file, with
// the owning part's code; a database newer than the code is refused.
TEST_F(SqliteTest, FailuresKeepThePartsCode) {
  auto db = Database::open(path_, test_error);
  ASSERT_TRUE(db.has_value());
  auto st = (*db)->migrate({"p", {{1, "CREATE TABLE p (x INTEGER); NOT SQL;"}}});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, 9999);
  EXPECT_NE(st.error().message.find("p migration 1"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find(path_), std::string::npos);
  {
    std::lock_guard lock((*db)->mutex());
    EXPECT_EQ(*(*db)->version("p"), 0);
  }
  ASSERT_TRUE((*db)->migrate({"p", {{1, "CREATE TABLE p (x INTEGER);"}}}).has_value());
  ASSERT_TRUE((*db)->migrate({"q", {{1, ";"}, {2, ";"}}}).has_value());
  auto older = (*db)->migrate({"q", {{1, ";"}}});
  ASSERT_FALSE(older.has_value());
  EXPECT_NE(older.error().message.find("newer"), std::string::npos);
  auto bad = Database::open("/nonexistent-dir/x.db", test_error);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().name, "test.store");
}

}  // namespace
}  // namespace cg::storage
