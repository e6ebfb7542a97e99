"""Component ids of the topoact app, as constants (one place, no typos across panels).

Shared stores (read by any panel, written by the graph panel unless noted):

``LAYER``        str: the selected layer.
``GRAPH_KEY``    {"layer", "key"} | None: the shown Mapper graph (of the selected layer).
``NODE``         {"layer", "graph_key", "node"} | None: the clicked node.
``CLASS``        int | None: the highlighted class (label index), or None.
``UPLOAD``       {"layers": {layer: {"graph_key", "nodes": [..]}}, "name"} | None: where an
                 uploaded image falls (written by the upload panel).
``MAPPER_REQUEST`` {"layers", "params", "select", "at"} | None: graphs to build in the background
                 (written by the graph, sweep and compare panels; see ``panels.graph``).
``MAPPER_RESULT``  {"layer", "key", "select"} | None: a graph that is ready (built or saved before).
"""

# shared stores
LAYER = "topoact-store-layer"
GRAPH_KEY = "topoact-store-graph-key"
NODE = "topoact-store-node"
CLASS = "topoact-store-class"
UPLOAD = "topoact-store-upload"
#: {"layer", "graph_key", "nodes", "rows"} | None: Mapper nodes on a persistence cycle (persistence tab)
HIGHLIGHT = "topoact-store-persistence-highlight"
MAPPER_REQUEST = "topoact-store-mapper-request"
MAPPER_RESULT = "topoact-store-mapper-result"
#: {"layer", "rows": [image row indices], "source": "graph"|"embedding", "nodes": [..] | None} | None:
#: images selected by lasso/box in the graph or the embedding view (shown in both, and as a grid)
SELECTION = "topoact-store-selection"
#: dcc.Location holding the view in the URL (layer, graph, colouring, node)
URL = "topoact-url"

# shell
TOP_BAR = "topoact-top-bar"
TABS = "topoact-tabs"

# graph panel
LAYER_DROPDOWN = "topoact-layer-dropdown"
KEY_DROPDOWN = "topoact-graph-key-dropdown"
COLOR_DROPDOWN = "topoact-color-dropdown"
CLASS_DROPDOWN = "topoact-class-dropdown"
EDGE_SLIDER = "topoact-edge-slider"
GRAPH = "topoact-graph"
GRAPH_INFO = "topoact-graph-info"
NODE_COUNT = "topoact-node-count"
NODE_INPUT = "topoact-node-input"

# parameter form and jobs
P_LENS = "topoact-param-lens"
P_COVER = "topoact-param-cover"
P_INTERVALS = "topoact-param-intervals"
P_OVERLAP = "topoact-param-overlap"
P_CLUSTERER = "topoact-param-clusterer"
P_EPS = "topoact-param-eps"
P_METRIC = "topoact-param-metric"
P_MIN_SAMPLES = "topoact-param-min-samples"
COMPUTE_BUTTON = "topoact-compute"
CANCEL_BUTTON = "topoact-cancel"
JOB_STATUS = "topoact-job-status"
JOB_PROGRESS = "topoact-job-progress"
JOB_PROGRESS_TEXT = "topoact-job-progress-text"
CANCEL_SWEEP = "topoact-sweep-cancel"
SWEEP_PROGRESS = "topoact-sweep-progress"
DEFAULT_BUTTON = "topoact-set-default"
DEFAULT_STATUS = "topoact-default-status"

# sweep
SWEEP_BUTTON = "topoact-sweep-run"
SWEEP_RESULT = "topoact-store-sweep-result"
SWEEP_INTERVALS = "topoact-sweep-intervals"
SWEEP_OVERLAPS = "topoact-sweep-overlaps"
SWEEP_SCALES = "topoact-sweep-scales"
SWEEP_METRIC = "topoact-sweep-metric"
SWEEP_HEATMAP = "topoact-sweep-heatmap"
SWEEP_TABLE = "topoact-sweep-table"
SWEEP_STATUS = "topoact-sweep-status"

# export
EXPORT_JSON = "topoact-export-json"
EXPORT_HTML = "topoact-export-html"
EXPORT_DOWNLOAD = "topoact-export-download"

# node panel
NODE_TITLE = "topoact-node-title"
NODE_STATS = "topoact-node-stats"
NODE_COMPOSITION = "topoact-node-composition"
EXEMPLARS = "topoact-exemplars"
#: {"images": [{"row", "src", "title", "ok"}], "error"?}: the exemplars drawn into EXEMPLARS (node panel)
EXEMPLAR_DATA = "topoact-exemplars-data"
EXEMPLAR_LIMIT = "topoact-store-exemplar-limit"
MORE_BUTTON = "topoact-exemplars-more"
CSV_BUTTON = "topoact-node-csv"
CSV_DOWNLOAD = "topoact-node-csv-download"

# compare (three neighbouring layers)
COMPARE_GRAPHS = "topoact-compare-graphs"
COMPARE_COMPUTE = "topoact-compare-compute"
COMPARE_STATUS = "topoact-compare-status"
COMPARE_VERSION = "topoact-store-compare-version"

# upload
UPLOAD_INPUT = "topoact-upload"
UPLOAD_PROGRESS = "topoact-upload-progress"
UPLOAD_STATUS = "topoact-upload-status"
UPLOAD_PREVIEW = "topoact-upload-preview"
UPLOAD_CLEAR = "topoact-upload-clear"


def compare_graph(position: int) -> str:
    """Id of the compare panel's graph at position 0, 1 or 2."""
    return f"topoact-compare-graph-{position}"
