//! The glue between the interfaces and the component model: a name per interface
//! ([`Interface`]), and for the distribution points the generated proxy and dispatcher
//! ([`Remotable`]).

use std::sync::Arc;

use hatch::codegen::{Channel, Service};
use hatch_components::{Interface, Remotable};

use crate::api::articles::Articles;
use crate::api::cache::Cache;
use crate::api::compress::Compressor;
use crate::api::database::{Database, DatabaseProxy, DatabaseServer, database_wire};
use crate::api::http::{Frontend, HttpHandler, HttpHandlerProxy, HttpHandlerServer, http_handler_wire};
use crate::api::memo::{Memo, MemoProxy, MemoServer, memo_wire};
use crate::api::script::{Script, ScriptProxy, ScriptServer, script_wire};

macro_rules! interface {
    ($($trait:ident),*) => {
        $(impl Interface for dyn $trait {
            const NAME: &'static str = stringify!($trait);
        })*
    };
}

interface!(Frontend, HttpHandler, Cache, Compressor, Script, Articles, Memo, Database);

macro_rules! remotable {
    ($trait:ident, $proxy:ident, $server:ident, $wire:ident, explicit: $explicit:expr) => {
        impl Remotable for dyn $trait {
            const FINGERPRINT: u64 = $wire::FINGERPRINT;
            const EXPLICIT: bool = $explicit;

            fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
                Arc::new($server::new(implementation))
            }

            fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
                Box::new($proxy::new(channel))
            }
        }
    };
}

remotable!(HttpHandler, HttpHandlerProxy, HttpHandlerServer, http_handler_wire, explicit: false);
remotable!(Script, ScriptProxy, ScriptServer, script_wire, explicit: false);
remotable!(Memo, MemoProxy, MemoServer, memo_wire, explicit: false);
remotable!(Database, DatabaseProxy, DatabaseServer, database_wire, explicit: true);
