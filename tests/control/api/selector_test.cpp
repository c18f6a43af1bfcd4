// Label selectors (string grammar and the structured LabelSelector) and field selectors.
#include "control/api/selector.h"

#include <gtest/gtest.h>

namespace k8c::api {
namespace {

using Op = Requirement::Op;
using Labels = std::map<std::string, std::string>;

LabelSelector ls(std::string_view text) {
  std::string err;
  auto s = LabelSelector::parse(text, &err);
  EXPECT_TRUE(s.has_value()) << text << ": " << err;
  return s.value_or(LabelSelector());
}

std::string ls_error(std::string_view text) {
  std::string err;
  auto s = LabelSelector::parse(text, &err);
  EXPECT_FALSE(s.has_value()) << text << " parsed as " << (s ? s->to_string() : "");
  EXPECT_FALSE(err.empty()) << text;
  return err;
}

TEST(LabelSelectorParse, EmptySelectsEverything) {
  EXPECT_TRUE(ls("").empty());
  EXPECT_TRUE(ls("   ").empty());
  EXPECT_TRUE(ls("").matches(Labels{}));
  EXPECT_TRUE(ls("").matches(Json()));
  EXPECT_TRUE(ls("").matches(Labels{{"a", "b"}}));
}

TEST(LabelSelectorParse, AllOperators) {
  auto s = ls("app=web,tier!=db,env in (a,b),!legacy,track,v==1,n>5,m<10,z notin (x)");
  const auto& r = s.requirements();
  ASSERT_EQ(r.size(), 9u);
  // Sorted by key, as Kubernetes keeps them.
  EXPECT_EQ(r[0].key, "app");
  EXPECT_EQ(r[0].op, Op::equals);
  EXPECT_EQ(r[0].values, std::vector<std::string>{"web"});
  EXPECT_EQ(r[1].key, "env");
  EXPECT_EQ(r[1].op, Op::in);
  EXPECT_EQ(r[1].values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r[2].key, "legacy");
  EXPECT_EQ(r[2].op, Op::does_not_exist);
  EXPECT_EQ(r[3].key, "m");
  EXPECT_EQ(r[3].op, Op::lt);
  EXPECT_EQ(r[4].key, "n");
  EXPECT_EQ(r[4].op, Op::gt);
  EXPECT_EQ(r[5].key, "tier");
  EXPECT_EQ(r[5].op, Op::not_equals);
  EXPECT_EQ(r[6].key, "track");
  EXPECT_EQ(r[6].op, Op::exists);
  EXPECT_EQ(r[7].key, "v");
  EXPECT_EQ(r[7].op, Op::equals);
  EXPECT_EQ(r[8].key, "z");
  EXPECT_EQ(r[8].op, Op::not_in);
}

TEST(LabelSelectorParse, WhitespaceTolerance) {
  auto a = ls("  app = web ,  env  in  ( a , b ) , ! legacy , tier!=db ");
  auto b = ls("app=web,env in (a,b),!legacy,tier!=db");
  EXPECT_EQ(a.to_string(), b.to_string());
  EXPECT_EQ(a.to_string(), "app=web,env in (a,b),!legacy,tier!=db");
  EXPECT_EQ(ls("\tapp\n=\rweb").to_string(), "app=web");
}

TEST(LabelSelectorParse, SetValues) {
  // Values are a sorted set; empty values are allowed.
  EXPECT_EQ(ls("x in (foo,,baz),y,z notin ()").to_string(), "x in (,baz,foo),y,z notin ()");
  EXPECT_EQ(ls("x in (b,a,b)").requirements()[0].values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ls("x in (a,)").requirements()[0].values, (std::vector<std::string>{"", "a"}));
  // Keywords are plain values inside parentheses and after operators.
  EXPECT_EQ(ls("x in (in,notin)").requirements()[0].values,
            (std::vector<std::string>{"in", "notin"}));
  EXPECT_EQ(ls("x=in").requirements()[0].values, std::vector<std::string>{"in"});
  // "k=" selects the empty value.
  EXPECT_EQ(ls("k=").requirements()[0].values, std::vector<std::string>{""});
  EXPECT_EQ(ls("k=,j").requirements().size(), 2u);
}

TEST(LabelSelectorParse, QualifiedKeys) {
  EXPECT_EQ(ls("app.kubernetes.io/name=web").requirements()[0].key, "app.kubernetes.io/name");
  EXPECT_EQ(ls("example.com/My_Key.v1").requirements()[0].op, Op::exists);
  EXPECT_EQ(ls("A-b_c.D=x").requirements()[0].key, "A-b_c.D");
}

TEST(LabelSelectorParse, SyntaxErrors) {
  EXPECT_EQ(ls_error("test-label=====name1"),
            "unable to parse requirement: found '==', expected: identifier");
  EXPECT_EQ(ls_error("env IN (a)"),
            "unable to parse requirement: found 'IN', expected: in, notin, =, ==, !=, gt, lt");
  EXPECT_EQ(ls_error("x in a"), "unable to parse requirement: found 'a' expected: '('");
  EXPECT_EQ(ls_error("x in (a"), "unable to parse requirement: found '', expected: ',' or ')'");
  EXPECT_EQ(ls_error("x in (a b)"), "unable to parse requirement: found 'b', expected: ',' or ')'");
  EXPECT_EQ(ls_error("x in (=)"),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier");
  EXPECT_EQ(ls_error("a,"), "found '', expected: identifier after ','");
  EXPECT_EQ(ls_error("a,,b"), "found ',', expected: identifier after ','");
  EXPECT_EQ(ls_error(",a"), "found ',', expected: !, identifier, or 'end of string'");
  EXPECT_EQ(ls_error("a=b c"), "found 'c', expected: ',' or 'end of string'");
  EXPECT_EQ(ls_error("!a=b"), "found '=', expected: ',' or 'end of string'");
  EXPECT_EQ(ls_error("!"), "unable to parse requirement: found '', expected: identifier");
  EXPECT_EQ(ls_error("a=(b)"), "unable to parse requirement: found '(', expected: identifier");
  ls_error("(a)");
  ls_error("a b");
}

TEST(LabelSelectorParse, InvalidKeys) {
  std::string e = ls_error("-bad=x");
  EXPECT_EQ(e.rfind("unable to parse requirement: invalid label key \"-bad\": name part must "
                    "consist of alphanumeric characters",
                    0),
            0u)
      << e;
  e = ls_error("Example.com/x=y");
  EXPECT_NE(e.find("prefix part a lowercase RFC 1123 subdomain"), std::string::npos) << e;
  e = ls_error("/x=y");
  EXPECT_NE(e.find("prefix part must be non-empty"), std::string::npos) << e;
  e = ls_error("a.io/=y");
  EXPECT_NE(e.find("name part must be non-empty"), std::string::npos) << e;
  e = ls_error("a/b/c=y");
  EXPECT_NE(e.find("a qualified name must consist of"), std::string::npos) << e;
  e = ls_error(std::string(64, 'k') + "=v");
  EXPECT_NE(e.find("name part must be no more than 63 characters"), std::string::npos) << e;
  ls(std::string(63, 'k') + "=v");
}

TEST(LabelSelectorParse, InvalidValues) {
  std::string e = ls_error("a=-x");
  EXPECT_EQ(e.rfind("unable to parse requirement: invalid label value: \"-x\": at key: \"a\": a "
                    "valid label must be an empty string or consist of alphanumeric characters",
                    0),
            0u)
      << e;
  e = ls_error("a in (ok,b@d)");
  EXPECT_NE(e.find("invalid label value: \"b@d\""), std::string::npos) << e;
  e = ls_error("a=" + std::string(64, 'v'));
  EXPECT_NE(e.find("must be no more than 63 characters"), std::string::npos) << e;
  EXPECT_EQ(ls_error("a>x"),
            "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer");
  EXPECT_EQ(ls_error("a<"),
            "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer");
}

TEST(LabelSelectorMatch, EqualityAndSets) {
  Labels web{{"app", "web"}, {"env", "prod"}};
  EXPECT_TRUE(ls("app=web").matches(web));
  EXPECT_TRUE(ls("app==web,env=prod").matches(web));
  EXPECT_FALSE(ls("app=db").matches(web));
  EXPECT_FALSE(ls("app=web,env=dev").matches(web));
  EXPECT_TRUE(ls("env in (dev,prod)").matches(web));
  EXPECT_FALSE(ls("env in (dev,qa)").matches(web));
  EXPECT_FALSE(ls("missing in (x)").matches(web));
  EXPECT_TRUE(ls("app").matches(web));
  EXPECT_FALSE(ls("!app").matches(web));
  EXPECT_TRUE(ls("!gone").matches(web));
  EXPECT_FALSE(ls("gone").matches(web));
  EXPECT_TRUE(ls("k=").matches(Labels{{"k", ""}}));
  EXPECT_FALSE(ls("k=").matches(Labels{}));
}

// `!=` and `notin` also select objects that do not carry the label at all.
TEST(LabelSelectorMatch, NegativeOperatorsMatchMissingLabels) {
  Labels none;
  Labels db{{"tier", "db"}};
  Labels fe{{"tier", "fe"}};
  EXPECT_TRUE(ls("tier!=db").matches(none));
  EXPECT_FALSE(ls("tier!=db").matches(db));
  EXPECT_TRUE(ls("tier!=db").matches(fe));
  EXPECT_TRUE(ls("tier notin (db,cache)").matches(none));
  EXPECT_FALSE(ls("tier notin (db,cache)").matches(db));
  EXPECT_TRUE(ls("tier notin (db,cache)").matches(fe));
}

TEST(LabelSelectorMatch, GreaterAndLessThan) {
  EXPECT_TRUE(ls("n>5").matches(Labels{{"n", "6"}}));
  EXPECT_FALSE(ls("n>5").matches(Labels{{"n", "5"}}));
  EXPECT_TRUE(ls("n<5").matches(Labels{{"n", "-3"}}));
  EXPECT_FALSE(ls("n<5").matches(Labels{{"n", "7"}}));
  // Missing or non-integer labels never compare.
  EXPECT_FALSE(ls("n>5").matches(Labels{}));
  EXPECT_FALSE(ls("n<5").matches(Labels{}));
  EXPECT_FALSE(ls("n>5").matches(Labels{{"n", "abc"}}));
}

TEST(LabelSelectorMatch, JsonLabels) {
  auto s = ls("app=web,tier notin (db)");
  EXPECT_TRUE(s.matches(Json::parse(R"({"app":"web"})")));
  EXPECT_FALSE(s.matches(Json::parse(R"({"app":"web","tier":"db"})")));
  EXPECT_FALSE(s.matches(Json()));
  EXPECT_TRUE(ls("!app").matches(Json()));
}

TEST(LabelSelectorString, RoundTrips) {
  for (const char* text :
       {"a=b", "a!=b", "a in (x,y)", "a notin (x)", "a", "!a", "a>1", "a<2", "a=b,c in (d),!e"}) {
    auto s = ls(text);
    EXPECT_EQ(ls(s.to_string()).to_string(), s.to_string()) << text;
  }
  EXPECT_EQ(ls("b=1,a=2").to_string(), "a=2,b=1");
  EXPECT_EQ(ls("a==b").to_string(), "a=b");
}

LabelSelector fj(const char* json) {
  std::string err;
  auto s = LabelSelector::from_json(Json::parse(json), &err);
  EXPECT_TRUE(s.has_value()) << json << ": " << err;
  return s.value_or(LabelSelector());
}

std::string fj_error(const char* json) {
  std::string err;
  auto s = LabelSelector::from_json(Json::parse(json), &err);
  EXPECT_FALSE(s.has_value()) << json;
  EXPECT_FALSE(err.empty()) << json;
  return err;
}

TEST(LabelSelectorJson, MatchLabelsAndExpressions) {
  auto s = fj(R"({"matchLabels":{"app":"web"},"matchExpressions":[
      {"key":"tier","operator":"In","values":["fe","be"]},
      {"key":"env","operator":"NotIn","values":["dev"]},
      {"key":"track","operator":"Exists"},
      {"key":"legacy","operator":"DoesNotExist","values":[]}]})");
  EXPECT_EQ(s.to_string(), "app=web,env notin (dev),!legacy,tier in (be,fe),track");
  EXPECT_TRUE(s.matches(Labels{{"app", "web"}, {"tier", "fe"}, {"track", "x"}}));
  EXPECT_FALSE(s.matches(Labels{{"app", "web"}, {"tier", "fe"}}));
  EXPECT_FALSE(s.matches(Labels{{"app", "web"}, {"tier", "fe"}, {"track", "x"}, {"env", "dev"}}));
  EXPECT_FALSE(s.matches(Labels{{"app", "web"}, {"tier", "fe"}, {"track", "x"}, {"legacy", "1"}}));
}

TEST(LabelSelectorJson, EmptyOrNullSelectsEverything) {
  EXPECT_TRUE(fj("{}").empty());
  EXPECT_TRUE(fj("null").empty());
  EXPECT_TRUE(fj(R"({"matchLabels":{},"matchExpressions":[]})").empty());
  EXPECT_TRUE(fj(R"({"matchLabels":null})").matches(Labels{{"a", "b"}}));
}

TEST(LabelSelectorJson, Errors) {
  EXPECT_EQ(fj_error(R"({"matchExpressions":[{"key":"a","operator":"Equals","values":["x"]}]})"),
            "\"Equals\" is not a valid label selector operator");
  EXPECT_EQ(fj_error(R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})"),
            "values set must be empty for exists and does not exist");
  fj_error(R"({"matchExpressions":[{"key":"a","operator":"DoesNotExist","values":["x"]}]})");
  EXPECT_EQ(fj_error(R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})"),
            "for 'in', 'notin' operators, values set can't be empty");
  fj_error(R"({"matchExpressions":[{"key":"a","operator":"NotIn"}]})");
  fj_error(R"({"matchExpressions":[{"key":"a"}]})");
  fj_error(R"({"matchExpressions":[{"operator":"Exists"}]})");
  fj_error(R"({"matchExpressions":[{"key":"a","operator":"In","values":[1]}]})");
  fj_error(R"({"matchExpressions":{"key":"a"}})");
  EXPECT_NE(fj_error(R"({"matchLabels":{"-a":"b"}})").find("invalid label key \"-a\""),
            std::string::npos);
  EXPECT_NE(fj_error(R"({"matchLabels":{"a":"b c"}})").find("invalid label value: \"b c\""),
            std::string::npos);
  fj_error(R"({"matchLabels":{"a":1}})");
  fj_error(R"({"matchLabels":["a"]})");
  fj_error(R"("app=web")");
}

FieldSelector fs(std::string_view text) {
  std::string err;
  auto s = FieldSelector::parse(text, &err);
  EXPECT_TRUE(s.has_value()) << text << ": " << err;
  return s.value_or(FieldSelector());
}

std::string fs_error(std::string_view text) {
  std::string err;
  auto s = FieldSelector::parse(text, &err);
  EXPECT_FALSE(s.has_value()) << text;
  EXPECT_FALSE(err.empty()) << text;
  return err;
}

TEST(FieldSelectorParse, Operators) {
  auto s = fs("metadata.name=web,spec.nodeName==n1,status.phase!=Failed");
  ASSERT_EQ(s.terms().size(), 3u);
  EXPECT_EQ(s.terms()[0].field, "metadata.name");
  EXPECT_TRUE(s.terms()[0].equals);
  EXPECT_EQ(s.terms()[0].value, "web");
  EXPECT_EQ(s.terms()[1].field, "spec.nodeName");
  EXPECT_TRUE(s.terms()[1].equals);
  EXPECT_EQ(s.terms()[1].value, "n1");
  EXPECT_EQ(s.terms()[2].field, "status.phase");
  EXPECT_FALSE(s.terms()[2].equals);
  EXPECT_EQ(s.terms()[2].value, "Failed");
  EXPECT_TRUE(fs("").empty());
  EXPECT_EQ(fs("a=b,,c=d").terms().size(), 2u);
  EXPECT_EQ(fs("spec.nodeName=").terms()[0].value, "");
}

TEST(FieldSelectorParse, Escaping) {
  auto s = fs(R"(metadata.name=a\,b\=c\\d\!e,spec.x=y)");
  ASSERT_EQ(s.terms().size(), 2u);
  EXPECT_EQ(s.terms()[0].value, R"(a,b=c\d!e)");
  EXPECT_EQ(s.terms()[1].value, "y");
  EXPECT_EQ(fs_error(R"(a=b\x)"), R"(invalid field selector: invalid escape sequence: \x)");
  EXPECT_EQ(fs_error(R"(a=b\)"), R"(invalid field selector: invalid escape sequence: \)");
  EXPECT_EQ(fs_error("a=b=c"), "invalid field selector: unescaped character in value: =");
  EXPECT_EQ(fs_error("a==b=c"), "invalid field selector: unescaped character in value: =");
}

TEST(FieldSelectorParse, Errors) {
  EXPECT_EQ(fs_error("metadata.name"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
  EXPECT_EQ(fs_error("a=b,c"), "invalid selector: 'a=b,c'; can't understand 'c'");
}

TEST(FieldSelectorMatch, DottedPaths) {
  Json pod = Json::parse(R"({"metadata":{"name":"web-1","namespace":"default"},
      "spec":{"nodeName":"n1","replicas":3,"hostNetwork":false},"status":{"phase":"Running"}})");
  EXPECT_TRUE(fs("metadata.name=web-1").matches(pod));
  EXPECT_TRUE(fs("metadata.name=web-1,status.phase=Running").matches(pod));
  EXPECT_FALSE(fs("metadata.name=web-1,status.phase=Pending").matches(pod));
  EXPECT_TRUE(fs("status.phase!=Failed").matches(pod));
  EXPECT_FALSE(fs("spec.nodeName!=n1").matches(pod));
  // Absent fields compare as "" (unscheduled pods: spec.nodeName=).
  EXPECT_TRUE(fs("spec.schedulerName=").matches(pod));
  EXPECT_FALSE(fs("spec.nodeName=").matches(pod));
  EXPECT_TRUE(fs("spec.schedulerName!=x").matches(pod));
  EXPECT_TRUE(fs("a.b.c=").matches(pod));
  EXPECT_TRUE(fs("metadata.name.deeper=").matches(pod));
  // Scalars compare by their JSON text.
  EXPECT_TRUE(fs("spec.replicas=3").matches(pod));
  EXPECT_TRUE(fs("spec.hostNetwork=false").matches(pod));
  EXPECT_TRUE(fs("").matches(pod));
  EXPECT_TRUE(fs(R"(metadata.name=a\,b)").matches(Json::parse(R"({"metadata":{"name":"a,b"}})")));
}

}  // namespace
}  // namespace k8c::api
