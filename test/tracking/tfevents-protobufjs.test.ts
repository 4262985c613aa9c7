/**
 * A second, library-made reading of the event files: protobufjs decoding with TensorFlow's own
 * message definitions (event.proto, summary.proto, tensor.proto, tensor_shape.proto, trimmed to the
 * fields we write, with TensorFlow's field numbers and types). protobufjs comes with onnx-proto.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { createTracker } from '../../src/tracking/tracker.ts';
import { readTfRecords } from './eventReader.ts';

const TENSORFLOW_PROTOS = `
syntax = "proto3";
package tensorflow;
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    bytes graph_def = 4;
    Summary summary = 5;
  }
}
message SummaryMetadata {
  message PluginData { string plugin_name = 1; bytes content = 2; }
  PluginData plugin_data = 1;
  string display_name = 2;
  string summary_description = 3;
}
message Summary {
  message Value {
    string node_name = 7;
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
      bytes obsolete_old_style_histogram = 3;
      TensorProto tensor = 8;
    }
  }
  repeated Value value = 1;
}
message TensorShapeProto {
  message Dim { int64 size = 1; string name = 2; }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}
message TensorProto {
  int32 dtype = 1;
  TensorShapeProto tensor_shape = 2;
  repeated bytes string_val = 8;
}
`;

describe('event files decoded by protobufjs with TensorFlow message definitions', () => {
  it('every record is an Event; scalars and text come back as written', async () => {
    const Event = protobuf.parse(TENSORFLOW_PROTOS).root.lookupType('tensorflow.Event');
    const dir = mkdtempSync(join(tmpdir(), 'synehr-pbjs-'));
    try {
      const tracker = await createTracker(
        dir,
        { metrics_jsonl: false, tensorboard: true, wandb: false, wandb_project: 'synehr', wandb_entity: null },
        { runName: 'pbjs', config: {} },
        { now: () => 1_700_000_000_250, hostname: 'pbjs' },
      );
      tracker.log(7, { 'train/loss': 2.5, lr: 0.125 });
      tracker.text('seed', '1337', 0);
      await tracker.close();

      const events = readTfRecords(readFileSync(tracker.files.tfevents!)).map((r) =>
        Event.toObject(Event.decode(r), { longs: Number, bytes: String, defaults: false }),
      );
      expect(events).toEqual([
        { wallTime: 1_700_000_000.25, step: 0, fileVersion: 'brain.Event:2' },
        {
          wallTime: 1_700_000_000.25,
          step: 7,
          summary: { value: [{ tag: 'train/loss', simpleValue: 2.5 }, { tag: 'lr', simpleValue: 0.125 }] },
        },
        {
          wallTime: 1_700_000_000.25,
          step: 0,
          summary: {
            value: [
              {
                tag: 'seed',
                metadata: { pluginData: { pluginName: 'text' } },
                tensor: { dtype: 7, tensorShape: {}, stringVal: [Buffer.from('1337').toString('base64')] },
              },
            ],
          },
        },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
