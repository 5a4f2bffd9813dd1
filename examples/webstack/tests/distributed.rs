//! The site through placed compositions: the request handler (with its sub-tree) relocated to
//! an agent and replicated on two, the script, the memo and the database relocated on their
//! own. Agents are child processes of the `hatch-web` binary; pages are checked for content,
//! and dynamic pages travel back to the front end's connection over the reverse proxy, with
//! batched and with synchronous `send`.

mod common;

use common::{Client, decode};
use hatch_webstack::dataset::{self, Kind, Shape};
use hatch_webstack::site::{Options, Platform};

fn placed(agents: usize, composition: &str) -> Platform {
    let options = Options {
        agents,
        agent_binary: Some(env!("CARGO_BIN_EXE_hatch-web").into()),
        composition: Some(composition.into()),
        ..common::options()
    };
    Platform::start(options).expect("platform with agents starts")
}

/// Checks static content (plain and gzip), a dynamic page and an edit.
fn check_site(client: &mut Client, round: u32) {
    for i in 0..4 {
        let path = dataset::static_path(Kind::Text, i + round);
        let reply = client.get(&path, "Accept-Encoding: gzip\r\n");
        assert_eq!(reply.status, 200, "{path}");
        let original = dataset::static_body(Kind::Text, i + round, dataset::SEED);
        assert_eq!(decode(reply.header("content-encoding"), &reply.body), original, "{path}");
        let image = dataset::static_path(Kind::Image, i + round);
        assert_eq!(client.get(&image, "").body, dataset::static_body(Kind::Image, i + round, dataset::SEED));
    }
    for i in 0..4 {
        let title = dataset::article_title((round * 7 + i) % Shape::small().articles);
        let page = client.get(&format!("/wiki/{title}?cost=1"), "");
        assert_eq!(page.status, 200);
        let html = page.text();
        assert!(html.contains(&format!("<h1>{title}</h1>")) && html.trim_end().ends_with("</html>"), "{html}");
    }
    let title = format!("Edited_{round}");
    let text = format!("written in round {round}");
    assert_eq!(client.request("POST", &format!("/wiki/{title}"), "", text.as_bytes()).status, 303);
    assert!(client.get(&format!("/wiki/{title}"), "").text().contains(&text));
    assert_eq!(client.get("/", "").status, 200);
}

const HANDLER_TREE: &str = "{WebFrontend,CachingCompressingHandler@,LruCache,Gzip,SCRIPT,MemoArticles,ShardedMemo,Sqlite|\
                            0:HttpHandler:1,1:Cache:2,1:Compressor:3,1:Script:4,4:Articles:5,5:Memo:6,5:Database:7}";

#[test]
fn relocated_handler_serves_the_site_with_batched_and_sync_send() {
    let id = HANDLER_TREE.replace("Handler@", "Handler_X{@1}").replace("SCRIPT", "BatchedScript");
    let mut site = placed(1, &id);
    let mut client = Client::connect(site.addr());
    check_site(&mut client, 0);
    let sync = HANDLER_TREE.replace("Handler@", "Handler_X{@1}").replace("SCRIPT", "SyncScript");
    site.transition(&sync).unwrap();
    assert!(site.placed().to_string().contains("SyncScript"));
    check_site(&mut client, 1);
    // Home again: the edits made remotely are in the database the front end reads.
    let local = HANDLER_TREE.replace("Handler@", "Handler").replace("SCRIPT", "SyncScript");
    site.transition(&local).unwrap();
    assert!(client.get("/wiki/Edited_1", "").text().contains("written in round 1"));
}

#[test]
fn replicated_handler_serves_the_site() {
    let id = "{WebFrontend,CompressingHandler_X{@1;@2},Gzip,BatchedScript,DirectArticles,Sqlite|\
              0:HttpHandler:1,1:Compressor:2,1:Script:3,3:Articles:4,4:Database:5}";
    let site = placed(2, id);
    let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(site.addr())).collect();
    for (round, client) in clients.iter_mut().enumerate() {
        check_site(client, round as u32);
    }
    assert!(site.placed().to_string().contains(&format!("{};{}", site.agents()[0], site.agents()[1])));
}

#[test]
fn script_memo_and_database_move_on_their_own() {
    let base = "{WebFrontend,CachingHandler,S3FifoCache,SCRIPT,MemoArticles,MEMO,DB|\
                0:HttpHandler:1,1:Cache:2,1:Script:3,3:Articles:4,4:Memo:5,4:Database:6}";
    let id =
        |script: &str, memo: &str, db: &str| base.replace("SCRIPT", script).replace("MEMO", memo).replace("DB", db);
    let mut site = placed(2, &id("SyncScript_X{@1}", "LockedMemo", "Sqlite"));
    let mut client = Client::connect(site.addr());
    check_site(&mut client, 0);
    site.transition(&id("BatchedScript_X{@1;@2}", "LockedMemo", "Sqlite")).unwrap();
    check_site(&mut client, 1);
    site.transition(&id("BatchedScript", "ShardedMemo_X{@2}", "Sqlite_X{@1}")).unwrap();
    check_site(&mut client, 2);
    // The database comes home with the edits made while it was away.
    site.transition(&id("BatchedScript", "ShardedMemo", "Sqlite")).unwrap();
    for round in 0..3 {
        assert!(client.get(&format!("/wiki/Edited_{round}"), "").text().contains(&format!("written in round {round}")));
    }
}
